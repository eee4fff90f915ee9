fn main() {
    eprintln!("granite-viewer: not built yet");
    std::process::exit(1);
}
