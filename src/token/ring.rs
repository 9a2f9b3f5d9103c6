//! The key ring: which key signs and which are published, derived from times alone.
//!
//! Every stored key has an activation time. At a time `now`:
//! - A key whose activation is still ahead is **staged**: published in the JWKS but
//!   not signing, so every verifier has it before the first token under it arrives.
//! - The key activated last is **signing**. (If none has activated yet, as when this
//!   instance's clock is behind the one that created the first key, the earliest key
//!   signs: an instance must never be left without a key.)
//! - An older activated key is **retiring** from the moment its successor activated
//!   until `publish_for` (the access-token lifetime plus the verify leeway) later:
//!   published, so the tokens it signed keep verifying until they expire.
//! - After that it is **expired**: no token it signed can verify any more, so it is
//!   no longer published, and the purge deletes it.
//!
//! Because the states follow from the stored times, every instance that has read the
//! same rows derives the same states, with no coordination and no state updates.

use super::KeySet;
use super::keys::SigningKey;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, signing from `activates_at`.
    Staged,
    /// Published and signing.
    Signing,
    /// Published, no longer signing; unpublished after `until`.
    Retiring { until: i64 },
    /// Neither published nor signing; due for deletion.
    Expired,
}

impl KeyState {
    /// `staged`, `signing`, `retiring` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Staged => "staged",
            KeyState::Signing => "signing",
            KeyState::Retiring { .. } => "retiring",
            KeyState::Expired => "expired",
        }
    }

    /// Whether the key belongs in the JWKS.
    pub fn is_published(self) -> bool {
        !matches!(self, KeyState::Expired)
    }
}

/// The states of keys with these activation times (sorted ascending) at `now`.
pub fn states(activations: &[i64], now: i64, publish_for: i64) -> Vec<KeyState> {
    let active = activations.iter().filter(|&&at| at <= now).count();
    let signer = active.saturating_sub(1);
    activations
        .iter()
        .enumerate()
        .map(|(i, &at)| {
            if i == signer {
                KeyState::Signing
            } else if at > now {
                KeyState::Staged
            } else {
                // Activated, not the signer: a later key activated at `next`.
                let until = activations[i + 1].saturating_add(publish_for);
                if now <= until {
                    KeyState::Retiring { until }
                } else {
                    KeyState::Expired
                }
            }
        })
        .collect()
}

/// The times a ring's states change, seen at one moment (seconds since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// When the signing key started signing.
    pub signing_since: Option<i64>,
    /// When the next staged key starts signing.
    pub next_activation: Option<i64>,
    /// When the next retiring key leaves the published set (the JWKS changes then).
    pub next_unpublish: Option<i64>,
}

/// A key in the ring.
#[derive(Debug, Clone)]
pub struct RingKey {
    pub key: SigningKey,
    pub activates_at: i64,
    pub created_at: i64,
}

/// The keys an instance holds. `Debug` lists the kids.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<RingKey>,
    publish_for: i64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| k.key.kid()))
            .finish()
    }
}

impl KeyRing {
    /// A ring of `keys`, each published until `publish_for` after its successor
    /// activated. Keys are ordered by activation, then creation, then kid, the order
    /// the store lists them in, so every instance agrees on the signer even when two
    /// keys activate in the same second.
    pub fn new(mut keys: Vec<RingKey>, publish_for: i64) -> Self {
        keys.sort_by(|a, b| {
            (a.activates_at, a.created_at, a.key.kid()).cmp(&(
                b.activates_at,
                b.created_at,
                b.key.kid(),
            ))
        });
        Self { keys, publish_for }
    }

    /// Each key with its state at `now`.
    pub fn states(&self, now: i64) -> impl Iterator<Item = (&RingKey, KeyState)> {
        let activations: Vec<i64> = self.keys.iter().map(|k| k.activates_at).collect();
        self.keys
            .iter()
            .zip(states(&activations, now, self.publish_for))
    }

    /// The key that signs at `now`; `None` only for an empty ring.
    pub fn signer(&self, now: i64) -> Option<&SigningKey> {
        self.states(now)
            .find(|(_, s)| *s == KeyState::Signing)
            .map(|(k, _)| &k.key)
    }

    /// The keys to publish at `now`.
    pub fn published(&self, now: i64) -> Vec<&SigningKey> {
        self.states(now)
            .filter(|(_, s)| s.is_published())
            .map(|(k, _)| &k.key)
            .collect()
    }

    /// The public halves of the keys published at `now`, for verifying.
    pub fn published_set(&self, now: i64) -> KeySet {
        let mut set = KeySet::new();
        for key in self.published(now) {
            key.add_to(&mut set);
        }
        set
    }

    /// Where the ring stands at `now`: since when the signer signs, when a staged key
    /// takes over, and when a retiring key leaves the published set.
    pub fn schedule(&self, now: i64) -> Schedule {
        let mut schedule = Schedule::default();
        for (key, state) in self.states(now) {
            match state {
                KeyState::Signing => schedule.signing_since = Some(key.activates_at),
                KeyState::Staged => {
                    schedule.next_activation = Some(
                        schedule
                            .next_activation
                            .map_or(key.activates_at, |t| t.min(key.activates_at)),
                    );
                }
                KeyState::Retiring { until } => {
                    let leaves = until.saturating_add(1);
                    schedule.next_unpublish =
                        Some(schedule.next_unpublish.map_or(leaves, |t| t.min(leaves)));
                }
                KeyState::Expired => {}
            }
        }
        schedule
    }

    /// The kid of every key in the ring, in ring order.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.key.kid()).collect()
    }

    /// The key `kid`, if the ring holds it.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().map(|k| &k.key).find(|k| k.kid() == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyState::*;

    #[test]
    fn the_schedule_names_the_signer_the_next_activation_and_the_next_unpublish() {
        let (key, _) = crate::token::keys::SigningKey::generate().unwrap();
        let ring = |activations: &[i64]| KeyRing {
            keys: activations
                .iter()
                .map(|&at| RingKey {
                    key: key.clone(),
                    activates_at: at,
                    created_at: 0,
                })
                .collect(),
            publish_for: 60,
        };
        let three = ring(&[0, 100, 500]);
        assert_eq!(
            three.schedule(150),
            Schedule {
                signing_since: Some(100),
                next_activation: Some(500),
                next_unpublish: Some(161),
            }
        );
        assert_eq!(
            three.schedule(200),
            Schedule {
                signing_since: Some(100),
                next_activation: Some(500),
                next_unpublish: None,
            }
        );
    }

    #[test]
    fn one_key_signs() {
        assert_eq!(states(&[100], 100, 60), vec![Signing]);
    }

    #[test]
    fn a_staged_key_is_published_before_it_signs_then_takes_over() {
        assert_eq!(states(&[0, 200], 199, 60), vec![Signing, Staged]);
        assert_eq!(
            states(&[0, 200], 200, 60),
            vec![Retiring { until: 260 }, Signing]
        );
    }

    #[test]
    fn a_retired_key_stays_published_until_its_last_token_expired() {
        assert_eq!(
            states(&[0, 200], 260, 60),
            vec![Retiring { until: 260 }, Signing]
        );
        assert_eq!(states(&[0, 200], 261, 60), vec![Expired, Signing]);
    }

    #[test]
    fn with_three_keys_each_retires_from_its_own_successor() {
        assert_eq!(
            states(&[0, 100, 150], 150, 60),
            vec![Retiring { until: 160 }, Retiring { until: 210 }, Signing]
        );
    }

    #[test]
    fn when_no_key_has_activated_the_earliest_signs() {
        assert_eq!(states(&[100, 200], 50, 60), vec![Signing, Staged]);
    }
}
