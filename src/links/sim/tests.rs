use super::delivery::destination;

#[test]
fn destination_parsing() {
    let mut v4 = [0u8; 20];
    v4[0] = 0x45;
    v4[16..20].copy_from_slice(&[192, 0, 2, 9]);
    assert_eq!(destination(&v4), Some("192.0.2.9".parse().unwrap()));
    assert_eq!(destination(&v4[..19]), None);
    let mut v6 = [0u8; 40];
    v6[0] = 0x60;
    v6[24] = 0x20;
    v6[25] = 0x01;
    v6[39] = 1;
    assert_eq!(destination(&v6), Some("2001::1".parse().unwrap()));
    assert_eq!(destination(&v6[..39]), None);
    assert_eq!(destination(&[]), None);
    assert_eq!(destination(&[0x55; 60]), None);
}
