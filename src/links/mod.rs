//! Links that move packets between stacks.
