//! Passwords from the terminal (no echo) or from standard input (one line).

use std::io::{BufRead, IsTerminal};

use anyhow::{Result, bail};
use proto::Secret;

/// Read a password: a no-echo prompt on a terminal (twice when `confirm`), else one line of
/// standard input. `force_stdin` reads standard input even from a terminal.
pub fn read(prompt: &str, confirm: bool, force_stdin: bool) -> Result<Secret> {
    let pw = if std::io::stdin().is_terminal() && !force_stdin {
        let first = rpassword::prompt_password(prompt)?;
        if confirm && rpassword::prompt_password("Retype password: ")? != first {
            bail!("passwords do not match");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string()
    };
    if pw.is_empty() {
        bail!("empty password");
    }
    Ok(Secret::from(pw))
}
