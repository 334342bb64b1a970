//! The contract of [`UserStore`] and [`TokenStore`].

use std::sync::Arc;

use chrono::{Duration, Utc};

use crate::Error;
use crate::domain::{Email, NewUser, PasswordHash, User, Username};
use crate::ports::{NewRefreshToken, RefreshTokenUse, TokenStore, UserStore};

fn new_user(username: &str, email: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        email: Email::parse(email).unwrap(),
        password_hash: PasswordHash::from_phc(format!("$argon2id$test${username}")),
        is_staff: false,
    }
}

async fn user(store: &dyn UserStore, username: &str) -> User {
    store
        .create_user(new_user(username, &format!("{username}@example.com")))
        .await
        .unwrap()
}

fn token(jti: &str, family: &str, user: &User, expires_in: Duration) -> NewRefreshToken {
    NewRefreshToken {
        jti: jti.into(),
        family: family.into(),
        user_id: user.id,
        expires_at: Utc::now() + expires_in,
    }
}

/// A created user can be found by id and, with its hash, by username in any case.
pub async fn creates_and_finds_users<S: UserStore + TokenStore>(store: Arc<S>) {
    let created = store
        .create_user(new_user("Alice", "alice@example.com"))
        .await
        .unwrap();
    assert_eq!(created.username, "Alice");
    assert_eq!(created.email, "alice@example.com");
    assert!(!created.is_staff);
    assert!(created.is_active);

    let found = store.find_user(created.id).await.unwrap().unwrap();
    assert_eq!(found, created);

    let credentials = store.find_credentials("aLiCe").await.unwrap().unwrap();
    assert_eq!(credentials.user.id, created.id);
    assert_eq!(credentials.password_hash.as_phc(), "$argon2id$test$Alice");

    assert!(store.find_credentials("bob").await.unwrap().is_none());
    let unknown = crate::domain::UserId(created.id.0 + 1000);
    assert!(store.find_user(unknown).await.unwrap().is_none());
}

/// A username or e-mail address taken in another letter case is refused, naming the field.
pub async fn usernames_and_emails_are_unique_ignoring_case<S: UserStore + TokenStore>(
    store: Arc<S>,
) {
    store
        .create_user(new_user("Zoë", "zoe@example.com"))
        .await
        .unwrap();
    let same_name = store
        .create_user(new_user("ZOË", "other@example.com"))
        .await;
    assert!(
        matches!(
            same_name,
            Err(Error::AlreadyExists {
                field: "username",
                ..
            })
        ),
        "{same_name:?}"
    );
    let same_email = store
        .create_user(new_user("other", "ZOE@Example.com"))
        .await;
    assert!(
        matches!(same_email, Err(Error::AlreadyExists { field: "email", .. })),
        "{same_email:?}"
    );
}

/// Of many concurrent registrations of one username, exactly one succeeds.
pub async fn concurrent_registrations_create_one_user<S: UserStore + TokenStore>(store: Arc<S>) {
    let attempts = (0..16).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_user(new_user("racer", &format!("racer{i}@example.com")))
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(created, 1, "{results:?}");
    for result in results {
        match result.unwrap() {
            Ok(_)
            | Err(Error::AlreadyExists {
                field: "username", ..
            }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
}

/// A refresh token is spent once; later presentations are reported as reuse.
pub async fn refresh_tokens_are_spent_once<S: UserStore + TokenStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    store
        .insert_refresh_token(token("t1", "fam1", &ann, Duration::hours(1)))
        .await
        .unwrap();
    let now = Utc::now();
    assert_eq!(
        store.spend_refresh_token("t1", now).await.unwrap(),
        RefreshTokenUse::Spent {
            user_id: ann.id,
            family: "fam1".into()
        }
    );
    assert_eq!(
        store.spend_refresh_token("t1", now).await.unwrap(),
        RefreshTokenUse::AlreadySpent {
            family: "fam1".into()
        }
    );
    assert_eq!(
        store.spend_refresh_token("nope", now).await.unwrap(),
        RefreshTokenUse::Unknown
    );
}

/// Of many concurrent spends of one token, exactly one succeeds.
pub async fn concurrent_spends_of_one_token_succeed_once<S: UserStore + TokenStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    store
        .insert_refresh_token(token("t1", "fam1", &ann, Duration::hours(1)))
        .await
        .unwrap();
    let spends = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.spend_refresh_token("t1", Utc::now()).await })
    });
    let results: Vec<_> = futures::future::join_all(spends)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let spent = results
        .iter()
        .filter(|r| matches!(r, RefreshTokenUse::Spent { .. }))
        .count();
    assert_eq!(spent, 1, "{results:?}");
    assert!(
        results.iter().all(|r| matches!(
            r,
            RefreshTokenUse::Spent { .. } | RefreshTokenUse::AlreadySpent { .. }
        )),
        "{results:?}"
    );
}

/// Revoking a family refuses its tokens, including one inserted after the revocation.
pub async fn revoked_families_refuse_every_token<S: UserStore + TokenStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    for jti in ["a", "b"] {
        store
            .insert_refresh_token(token(jti, "fam", &ann, Duration::hours(1)))
            .await
            .unwrap();
    }
    store
        .insert_refresh_token(token("other", "other-fam", &ann, Duration::hours(1)))
        .await
        .unwrap();
    let now = Utc::now();
    store.revoke_family("fam", now).await.unwrap();
    store.revoke_family("fam", now).await.unwrap();
    store
        .insert_refresh_token(token("late", "fam", &ann, Duration::hours(1)))
        .await
        .unwrap();
    for jti in ["a", "b", "late"] {
        assert_eq!(
            store.spend_refresh_token(jti, now).await.unwrap(),
            RefreshTokenUse::Revoked,
            "{jti}"
        );
    }
    assert!(matches!(
        store.spend_refresh_token("other", now).await.unwrap(),
        RefreshTokenUse::Spent { .. }
    ));
}

/// An expired token is refused, and purging forgets it.
pub async fn expired_tokens_are_refused_and_purged<S: UserStore + TokenStore>(store: Arc<S>) {
    let ann = user(&*store, "ann").await;
    store
        .insert_refresh_token(token("old", "fam", &ann, Duration::seconds(-5)))
        .await
        .unwrap();
    store
        .insert_refresh_token(token("new", "fam2", &ann, Duration::hours(1)))
        .await
        .unwrap();
    let now = Utc::now();
    assert_eq!(
        store.spend_refresh_token("old", now).await.unwrap(),
        RefreshTokenUse::Revoked
    );
    assert_eq!(store.purge_expired(now).await.unwrap(), 1);
    assert_eq!(
        store.spend_refresh_token("old", now).await.unwrap(),
        RefreshTokenUse::Unknown
    );
    assert!(matches!(
        store.spend_refresh_token("new", now).await.unwrap(),
        RefreshTokenUse::Spent { .. }
    ));
}
