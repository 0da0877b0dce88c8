// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rvsd`: see the library docs.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match rvsd::Options::parse(&args) {
        Ok(rvsd::Parsed::Run(o)) => o,
        Ok(rvsd::Parsed::Help) => {
            print!("{}", rvsd::USAGE);
            return;
        }
        Ok(rvsd::Parsed::Version) => {
            println!("rvsd {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Err(e) => {
            eprintln!("rvsd: {e}");
            eprint!("{}", rvsd::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = rvsd::run(opts) {
        eprintln!("rvsd: {e:#}");
        std::process::exit(1);
    }
}
