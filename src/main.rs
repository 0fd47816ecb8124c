//! The `synfin` command line. With no arguments it runs the lifecycle demo.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
