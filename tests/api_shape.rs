//! The public shape of generated clients: what must compile, and what must not.

#[test]
fn api_shape() {
    let t = trybuild::TestCases::new();
    t.pass("compile_pass/*.rs");
    t.compile_fail("compile_fail/*.rs");
}
