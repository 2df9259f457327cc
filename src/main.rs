fn main() -> std::process::ExitCode {
    cenv::main()
}
