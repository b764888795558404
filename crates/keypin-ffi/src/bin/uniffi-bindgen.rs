//! UniFFI's binding generator, built at the library's exact UniFFI version (feature `cli`).
//! The Maven build of `bindings/kotlin` runs it to write the Kotlin bindings.

fn main() {
    uniffi::uniffi_bindgen_main()
}
