//! The user database: every lookup of a name by id or an id by name, in one
//! place, with one rule for what is shown when the database has no answer:
//! the number itself (`1234`), which every command cenv prints (`chown`,
//! `setfacl`) accepts as it is.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Mutex;

use nix::unistd::{Uid, User};

/// A user from the user database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: PathBuf,
    pub shell: PathBuf,
}

impl Account {
    fn from_user(user: User) -> Account {
        Account {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            name: user.name,
            home: user.dir,
            shell: user.shell,
        }
    }

    pub fn by_uid(uid: u32) -> Option<Account> {
        User::from_uid(Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(Account::from_user)
    }

    pub fn by_name(name: &str) -> Option<Account> {
        User::from_name(name).ok().flatten().map(Account::from_user)
    }

    /// Supplementary groups from the user database, primary group included
    /// (just the primary group when the database cannot say).
    pub fn groups(&self) -> Vec<u32> {
        self.try_groups().unwrap_or_else(|_| vec![self.gid])
    }

    /// Supplementary groups from the user database, primary group
    /// included, as initgroups(3) would set them. Asked of the database
    /// once per process: the policy, the drop and its check all need them.
    pub fn try_groups(&self) -> nix::Result<Vec<u32>> {
        let key = (self.name.clone(), self.gid);
        if let Some(known) = GROUP_LISTS
            .lock()
            .ok()
            .and_then(|lists| lists.iter().find(|(k, _)| *k == key).map(|(_, g)| g.clone()))
        {
            return Ok(known);
        }
        let name = CString::new(self.name.as_bytes()).map_err(|_| nix::Error::EINVAL)?;
        let gids: Vec<u32> = crate::system::sys::group_list(&name, self.gid)
            .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        if let Ok(mut lists) = GROUP_LISTS.lock() {
            lists.push((key, gids.clone()));
        }
        Ok(gids)
    }
}

/// The group lists looked up so far: (user name, primary gid) → gids.
type GroupLists = Vec<((String, u32), Vec<u32>)>;
static GROUP_LISTS: Mutex<GroupLists> = Mutex::new(Vec::new());

/// The name of `uid`, or the number when the database has none.
pub fn user_name(uid: u32) -> String {
    Account::by_uid(uid).map_or_else(|| uid.to_string(), |a| a.name)
}

/// The name of `gid`, or the number when the database has none.
pub fn group_name(gid: u32) -> String {
    crate::system::sys::group_name_by_gid(gid)
        .ok()
        .flatten()
        .unwrap_or_else(|| gid.to_string())
}

/// The uid of the user called `name`, if there is one.
pub fn uid_of(name: &str) -> Option<u32> {
    User::from_name(name).ok().flatten().map(|u| u.uid.as_raw())
}

/// The gid of the group called `name`, if there is one (a lookup that
/// failed counts as none: see [`lookup_gid`] where that matters).
pub fn gid_of(name: &str) -> Option<u32> {
    lookup_gid(name).ok().flatten()
}

/// What the group database says of `name`: its gid, `None` when there is no
/// such group, or the error when the database could not be asked (a
/// directory that is down). Asked once per name per process: a policy names
/// the same groups for many envs, and each question to a directory costs a
/// round trip that returns the group's every member.
pub fn lookup_gid(name: &str) -> Result<Option<u32>, LookupError> {
    if let Some(known) = GIDS.lock().ok().and_then(|known| known.get(name).cloned()) {
        return known;
    }
    let answer = match CString::new(name.as_bytes()) {
        Ok(c_name) => crate::system::sys::gid_by_name(&c_name).map_err(|e| LookupError {
            what: format!("group {name}"),
            errno: e.raw_os_error().unwrap_or(0),
            message: e.to_string(),
        }),
        // a name with a NUL byte names no group
        Err(_) => Ok(None),
    };
    if let Ok(mut known) = GIDS.lock() {
        known.insert(name.to_owned(), answer.clone());
    }
    answer
}

/// A question the user or group database could not answer: NSS failed (a
/// directory down or hung, its daemon stopped), which says nothing about
/// whether the user or group exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    /// What was asked: `group ai-researchers`.
    pub what: String,
    pub errno: i32,
    pub message: String,
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "looking up {} failed: {} (errno {}; the user database — NSS: LDAP, SSSD — did not answer)",
            self.what, self.message, self.errno
        )
    }
}

type GidAnswers = HashMap<String, Result<Option<u32>, LookupError>>;
static GIDS: std::sync::LazyLock<Mutex<GidAnswers>> = std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

/// The home directory the database gives `uid`.
pub fn home_of(uid: u32) -> Option<PathBuf> {
    Account::by_uid(uid).map(|a| a.home)
}

/// uid/gid → name, each looked up once: for reports over many files.
#[derive(Debug, Default)]
pub struct NameCache {
    users: Mutex<HashMap<u32, String>>,
    groups: Mutex<HashMap<u32, String>>,
}

impl NameCache {
    pub fn user(&self, uid: u32) -> String {
        let mut cache = self.users.lock().unwrap_or_else(|e| e.into_inner());
        cache.entry(uid).or_insert_with(|| user_name(uid)).clone()
    }

    pub fn group(&self, gid: u32) -> String {
        let mut cache = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        cache.entry(gid).or_insert_with(|| group_name(gid)).clone()
    }
}
