//! User and group names for messages and logs: the one place that looks them
//! up. An id with no name (a deleted user, a dynamic user outside its
//! service) shows as the number.

use nix::unistd::{Gid, Group, Uid, User};

/// The user's name, or the uid as a number.
pub fn user_name(uid: u32) -> String {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// The group's entry (for its members), if it has one.
pub fn group_entry(gid: u32) -> Option<Group> {
    Group::from_gid(Gid::from_raw(gid)).ok().flatten()
}

/// The group's name, or the gid as a number.
pub fn group_name(gid: u32) -> String {
    group_entry(gid).map_or_else(|| gid.to_string(), |g| g.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(user_name(0), "root");
        assert_eq!(group_name(0), "root");
        // Far above any id a test machine hands out.
        assert_eq!(user_name(4_000_000_000), "4000000000");
        assert_eq!(group_name(4_000_000_000), "4000000000");
        assert!(group_entry(4_000_000_000).is_none());
    }
}
