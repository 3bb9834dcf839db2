//! The script commands carried out on a user's [`SieveScripts`] (the files Pigeonhole's
//! managesieve writes), with the per-user limits and the Sieve checker. Each answers with the
//! response bytes to send; the socket layer runs them on the blocking pool.

use mailstore::sieve_scripts::{ScriptError, SieveScripts};

use super::response::{Code, no, ok, string};

/// A user's limits (Pigeonhole's `sieve_quota_max_scripts` and `sieve_max_script_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most scripts; 0 means no limit.
    pub max_scripts: u64,
    /// Largest script in bytes (never above the checker's own limit).
    pub max_script_size: u64,
}

/// A command that reads or changes the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    List,
    Get(String),
    Put(String, String),
    Check(String),
    SetActive(String),
    Delete(String),
    Rename(String, String),
    HaveSpace(String, u64),
}

/// Checks a script with the `sieve` crate as delivery will compile it: `None` when it
/// compiles, else the error as `LINE:COLUMN: message`.
pub fn check(source: &str) -> Option<String> {
    sieve::compile(source).err().map(|e| e.to_string())
}

/// Runs `op` for the user whose scripts are `store`; `user` is for the log.
pub fn execute(op: &Op, store: &SieveScripts, limits: &Limits, user: &str) -> Vec<u8> {
    match run(op, store, limits) {
        Ok(reply) => reply,
        Err(ScriptError::BadName) => no(None, "Invalid script name."),
        Err(ScriptError::NotFound) => no(Some(Code::Nonexistent), "There is no script by that name."),
        Err(ScriptError::Exists) => no(Some(Code::AlreadyExists), "A script with that name already exists."),
        Err(ScriptError::Active) => no(Some(Code::Active), "The active script cannot be deleted."),
        Err(ScriptError::Io(e)) => {
            tracing::error!("managesieve user={user} home={}: {e}", store.home().display());
            no(Some(Code::TryLater), "Cannot access the scripts now, try again later.")
        }
    }
}

/// A refusal when a script of `size` bytes named `name` (`None`: CHECKSCRIPT) does not fit.
fn space(
    store: &SieveScripts,
    limits: &Limits,
    name: Option<&str>,
    size: u64,
) -> Result<Option<Vec<u8>>, ScriptError> {
    let max = limits.max_script_size.min(sieve::check::MAX_SCRIPT_SIZE as u64);
    if size > max {
        let text = format!("Script is too large, at most {max} bytes.");
        return Ok(Some(no(Some(Code::MaxSize), &text)));
    }
    if let Some(name) = name
        && limits.max_scripts > 0
        && store.size(name)?.is_none()
    {
        let (count, _) = store.used()?;
        if count as u64 >= limits.max_scripts {
            let text = format!("Too many scripts, at most {}.", limits.max_scripts);
            return Ok(Some(no(Some(Code::MaxScripts), &text)));
        }
    }
    Ok(None)
}

fn run(op: &Op, store: &SieveScripts, limits: &Limits) -> Result<Vec<u8>, ScriptError> {
    Ok(match op {
        Op::List => {
            let mut out = String::new();
            for (name, active) in store.list()? {
                string(&mut out, &name);
                out.push_str(if active { " ACTIVE\r\n" } else { "\r\n" });
            }
            let mut out = out.into_bytes();
            out.extend(ok(None, "Listscripts completed."));
            out
        }
        Op::Get(name) => {
            let source = store.get(name)?;
            let mut out = format!("{{{}}}\r\n{source}\r\n", source.len()).into_bytes();
            out.extend(ok(None, "Getscript completed."));
            out
        }
        Op::Put(name, source) => {
            mailstore::sieve_scripts::check_name(name)?;
            if let Some(refusal) = space(store, limits, Some(name), source.len() as u64)? {
                return Ok(refusal);
            }
            if let Some(e) = check(source) {
                return Ok(no(None, &e));
            }
            store.put(name, source)?;
            ok(None, "Putscript completed.")
        }
        Op::Check(source) => {
            if let Some(refusal) = space(store, limits, None, source.len() as u64)? {
                return Ok(refusal);
            }
            match check(source) {
                Some(e) => no(None, &e),
                None => ok(None, "Script is valid."),
            }
        }
        Op::SetActive(name) if name.is_empty() => {
            store.deactivate()?;
            ok(None, "Setactive completed.")
        }
        Op::SetActive(name) => {
            // A script stored by another program may not compile: it is not activated.
            if let Some(e) = check(&store.get(name)?) {
                return Ok(no(None, &e));
            }
            store.activate(name)?;
            ok(None, "Setactive completed.")
        }
        Op::Delete(name) => {
            store.delete(name)?;
            ok(None, "Deletescript completed.")
        }
        Op::Rename(old, new) => {
            store.rename(old, new)?;
            ok(None, "Renamescript completed.")
        }
        Op::HaveSpace(name, size) => {
            mailstore::sieve_scripts::check_name(name)?;
            match space(store, limits, Some(name), *size)? {
                Some(refusal) => refusal,
                None => ok(None, "Putscript would succeed."),
            }
        }
    })
}
