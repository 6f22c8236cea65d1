//! CLIENT TRACKING, CACHING, TRACKINGINFO and GETREDIR: client-side caching's
//! commands, answered on the network thread. The table of tracked keys and the
//! invalidation messages are [`crate::state::tracking`]'s.

use bytes::Bytes;

use crate::commands::{arg_i64, is};
use crate::error::{text, CommandError};
use crate::protocol::Reply;
use crate::state::tracking::Mode;
use crate::state::Session;

type Result<T> = std::result::Result<T, CommandError>;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn tracking(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let mut mode = Mode::default();
    let mut prefixes = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if is(a, "redirect") && more {
            j += 1;
            if mode.redirect != 0 {
                return Err(CommandError::other(text::TRACKING_ONE_REDIRECT));
            }
            let id = arg_i64(&args[j])?;
            if id <= 0 || s.ctx.client(id as u64).is_none() {
                return Err(CommandError::other(text::TRACKING_NO_REDIRECT_TARGET));
            }
            mode.redirect = id as u64;
        } else if is(a, "bcast") {
            mode.bcast = true;
        } else if is(a, "optin") {
            mode.optin = true;
        } else if is(a, "optout") {
            mode.optout = true;
        } else if is(a, "noloop") {
            mode.noloop = true;
        } else if is(a, "prefix") && more {
            j += 1;
            prefixes.push(args[j].clone());
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    if is(&args[2], "off") {
        if s.tracking.take().is_some() {
            s.ctx.tracking.disable(s.info.id);
        }
        s.caching = false;
        return Ok(Reply::Ok);
    }
    if !is(&args[2], "on") {
        return Err(CommandError::Syntax);
    }
    if !mode.bcast && !prefixes.is_empty() {
        return Err(CommandError::other(text::TRACKING_PREFIX_NEEDS_BCAST));
    }
    if let Some(old) = &s.tracking {
        if old.bcast != mode.bcast {
            return Err(CommandError::other(text::TRACKING_BCAST_SWITCH));
        }
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(CommandError::other(text::TRACKING_BCAST_OPTIN));
    }
    if mode.optin && mode.optout {
        return Err(CommandError::other(text::TRACKING_OPTIN_OPTOUT));
    }
    if let Some(old) = &s.tracking {
        if (mode.optin && old.optout) || (mode.optout && old.optin) {
            return Err(CommandError::other(text::TRACKING_OPT_SWITCH));
        }
    }
    // BCAST prefixes add to the ones the client has; none at all means every key.
    let mut all = s
        .tracking
        .as_ref()
        .map(|m| m.prefixes.clone())
        .unwrap_or_default();
    if mode.bcast {
        check_prefixes(&all, &prefixes)?;
        if prefixes.is_empty() && all.is_empty() {
            prefixes.push(Bytes::new());
        }
        all.extend(prefixes);
        all.sort();
        all.dedup();
        mode.prefixes = all;
    }
    s.ctx.tracking.enable(&s.info, mode.clone());
    s.tracking = Some(mode);
    Ok(Reply::Ok)
}

/// Redis's rule: no prefix may be a prefix of another, given or already held.
fn check_prefixes(held: &[Bytes], given: &[Bytes]) -> Result<()> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    for (i, p) in given.iter().enumerate() {
        if let Some(h) = held.iter().find(|h| overlap(h, p)) {
            return Err(CommandError::prefix_overlap(p, h, true));
        }
        if let Some(q) = given[i + 1..].iter().find(|q| overlap(q, p)) {
            return Err(CommandError::prefix_overlap(p, q, false));
        }
    }
    Ok(())
}

/// CLIENT CACHING YES|NO: whether the next command's reads are tracked (OPTIN/OPTOUT).
pub fn caching(s: &mut Session, args: &[Bytes]) -> Result<Reply> {
    let Some(mode) = &s.tracking else {
        return Err(CommandError::other(text::CACHING_NOT_TRACKING));
    };
    if is(&args[2], "yes") {
        if !mode.optin {
            return Err(CommandError::other(text::CACHING_YES_NOT_OPTIN));
        }
    } else if is(&args[2], "no") {
        if !mode.optout {
            return Err(CommandError::other(text::CACHING_NO_NOT_OPTOUT));
        }
    } else {
        return Err(CommandError::Syntax);
    }
    s.caching = true;
    Ok(Reply::Ok)
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes.
pub fn trackinginfo(s: &Session) -> Reply {
    let word = |w: &'static str| Reply::bulk_static(w);
    let mut flags = Vec::new();
    let (redirect, prefixes) = match &s.tracking {
        None => {
            flags.push(word("off"));
            (-1, Vec::new())
        }
        Some(m) => {
            flags.push(word("on"));
            if m.bcast {
                flags.push(word("bcast"));
            }
            if m.optin {
                flags.push(word("optin"));
                if s.caching {
                    flags.push(word("caching-yes"));
                }
            }
            if m.optout {
                flags.push(word("optout"));
                if s.caching {
                    flags.push(word("caching-no"));
                }
            }
            if m.noloop {
                flags.push(word("noloop"));
            }
            if s.ctx.tracking.broken(s.info.id) {
                flags.push(word("broken_redirect"));
            }
            let prefixes = m.prefixes.iter().cloned().map(Reply::Bulk).collect();
            (m.redirect as i64, prefixes)
        }
    };
    Reply::Map(vec![
        (word("flags"), Reply::Set(flags)),
        (word("redirect"), Reply::Int(redirect)),
        (word("prefixes"), Reply::Array(prefixes)),
    ])
}

/// CLIENT GETREDIR: the redirect client, 0 for none, -1 when not tracking.
pub fn getredir(s: &Session) -> Reply {
    Reply::Int(s.tracking.as_ref().map_or(-1, |m| m.redirect as i64))
}

/// Records the keys of a read-only command for a tracking client in the default
/// mode (with OPTIN only after CLIENT CACHING YES, with OPTOUT unless after CLIENT
/// CACHING NO). Called as the command is routed, before it reaches its shard.
pub fn remember_reads(s: &Session, readonly: bool, keys: impl FnOnce() -> Vec<Bytes>) {
    let Some(mode) = &s.tracking else { return };
    if !readonly || mode.bcast {
        return;
    }
    let wanted = if mode.optin {
        s.caching
    } else if mode.optout {
        !s.caching
    } else {
        true
    };
    if wanted {
        let keys = keys();
        if !keys.is_empty() {
            let ctx = &s.ctx;
            let max = ctx.live.param_u64("tracking-table-max-keys").unwrap_or(0);
            let clients = |id| ctx.client(id);
            let limits = ctx.pubsub_limits();
            ctx.tracking
                .remember(s.info.id, keys.iter(), max as usize, &clients, limits);
        }
    }
}

/// A CLIENT CACHING lasts for the one command after it (every command of a MULTI;
/// other CLIENT commands do not use it up), as in Redis.
pub fn end_caching(s: &mut Session, client_cmd: bool) {
    if !client_cmd && s.multi.is_none() {
        s.caching = false;
    }
}
