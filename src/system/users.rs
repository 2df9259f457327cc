//! The user database: every lookup of a name by id or an id by name, in one
//! place, with one rule for what is shown when the database has no answer:
//! the number itself (`1234`), which every command cenv prints (`chown`,
//! `setfacl`) accepts as it is.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Mutex;

use nix::unistd::{Gid, Group, Uid, User};

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
        let gids: Vec<u32> = nix::unistd::getgrouplist(&name, Gid::from_raw(self.gid))?
            .into_iter()
            .map(Gid::as_raw)
            .collect();
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
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

/// The uid of the user called `name`, if there is one.
pub fn uid_of(name: &str) -> Option<u32> {
    User::from_name(name).ok().flatten().map(|u| u.uid.as_raw())
}

/// The gid of the group called `name`, if there is one.
pub fn gid_of(name: &str) -> Option<u32> {
    Group::from_name(name).ok().flatten().map(|g| g.gid.as_raw())
}

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
