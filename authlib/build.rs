//! sqlx::migrate! reads ../sql while compiling: rebuild when a migration is added or changed.

fn main() {
    println!("cargo:rerun-if-changed=../sql");
}
