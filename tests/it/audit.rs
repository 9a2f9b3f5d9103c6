//! The audit trail through the real server: what is recorded, what is never in it,
//! how it is read, and that a failed write never fails the request.

use std::time::Duration;

use tessera::proto::{
    AuditEvent, ChangePasswordRequest, DisableUserRequest, EnableUserRequest,
    ListAuditEventsRequest, ListAuditEventsResponse,
};
use tonic::{Code, Status};

use crate::admin::Admin;
use crate::harness::{self, Backend, PASSWORD, assert_error, email, on_both_backends};

async fn list(
    admin: &Admin,
    request: ListAuditEventsRequest,
) -> Result<ListAuditEventsResponse, Status> {
    let answer = admin.client().list_audit_events(admin.ask(request)).await?;
    Ok(answer.into_inner())
}

fn kinds(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

async fn the_trail_tells_an_accounts_story_and_holds_no_secret(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let address = email("audited");
    let (user, first) = server.login_as(&address).await;
    server
        .login(&address, "not the password")
        .await
        .unwrap_err();
    let ghost = email("ghost");
    server.login(&ghost, "not the password").await.unwrap_err();
    let second = server.new_session(&address).await;
    server.refresh(&second.refresh_token).await.unwrap();
    assert_error(
        server.refresh(&second.refresh_token).await,
        Code::Unauthenticated,
        "REFRESH_TOKEN_REUSED",
    );
    let new_password = "an audited passphrase";
    server
        .client()
        .change_password(ChangePasswordRequest {
            access_token: first.access_token.clone(),
            current_password: PASSWORD.into(),
            new_password: new_password.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    server.logout(&first.refresh_token, false).await.unwrap();
    let disable = admin.ask(DisableUserRequest {
        user_id: user.id.clone(),
    });
    admin.client().disable_user(disable).await.unwrap();
    let enable = admin.ask(EnableUserRequest {
        user_id: user.id.clone(),
    });
    admin.client().enable_user(enable).await.unwrap();

    let trail = list(
        &admin,
        ListAuditEventsRequest {
            user_id: user.id.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        kinds(&trail.events),
        vec![
            "account_enabled",
            "account_disabled",
            "logged_out",
            "password_changed",
            "refresh_token_reused",
            "login_succeeded",
            "login_failed",
            "login_succeeded",
            "registered",
        ]
    );
    let failed = &trail.events[6];
    assert_eq!(failed.detail, "INVALID_CREDENTIALS");
    assert_eq!(failed.actor, "self");
    assert_eq!(failed.client_address, "127.0.0.1");
    let disabled = &trail.events[1];
    assert_eq!(disabled.actor, admin_id(&admin).await);
    assert_eq!(
        trail.events[5].session_id,
        harness::session_of(&second.access_token)
    );
    assert!(trail.events.windows(2).all(|w| w[0].id > w[1].id));

    // A login for an unknown email is recorded without a user, by nobody known.
    let failures = list(
        &admin,
        ListAuditEventsRequest {
            kind: "login_failed".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        failures
            .events
            .iter()
            .any(|e| e.actor == "anonymous" && e.user_id.is_empty())
    );

    // Never a password, a hash or a token.
    let everything = list(
        &admin,
        ListAuditEventsRequest {
            page_size: 500,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let text = format!("{:?}", everything.events);
    for secret in [
        PASSWORD,
        new_password,
        first.refresh_token.as_str(),
        second.refresh_token.as_str(),
        &first.access_token[..40],
        "$2b$",
        "$argon2id$",
    ] {
        assert!(!text.contains(secret), "{secret} in the trail");
    }
    // The admin's reads are recorded too, and the operator's role grant.
    let kinds_all = kinds(&everything.events);
    assert!(kinds_all.contains(&"admin_query"));
    assert!(
        everything
            .events
            .iter()
            .any(|e| e.kind == "roles_changed" && e.actor == "operator")
    );
}

/// The admin's own user id, from the trail's record of their role grant.
async fn admin_id(admin: &Admin) -> String {
    let grants = list(
        admin,
        ListAuditEventsRequest {
            kind: "roles_changed".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    grants.events.last().unwrap().user_id.clone()
}

async fn the_trail_is_read_in_pages_and_by_time(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    for n in 0..3 {
        server.register(&email(&format!("paged{n}"))).await;
    }
    let registered = |page_size: u32, page_token: String| {
        list(
            &admin,
            ListAuditEventsRequest {
                kind: "registered".into(),
                page_size,
                page_token,
                ..Default::default()
            },
        )
    };
    let all = registered(0, String::new()).await.unwrap().events;
    assert_eq!(all.len(), 4, "three users and the admin");
    let first = registered(3, String::new()).await.unwrap();
    let rest = registered(3, first.next_page_token.clone()).await.unwrap();
    assert_eq!(first.events.len(), 3);
    assert_eq!(rest.events.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let ids: Vec<_> = first
        .events
        .iter()
        .chain(&rest.events)
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, all.iter().map(|e| e.id).collect::<Vec<_>>());

    let later = prost_types::Timestamp {
        seconds: tessera::clock::unix_now() + 3600,
        nanos: 0,
    };
    let none = list(
        &admin,
        ListAuditEventsRequest {
            since: Some(later),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(none.events.is_empty());
    assert_error(
        list(
            &admin,
            ListAuditEventsRequest {
                kind: "everything".into(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
}

async fn a_failed_audit_write_never_fails_the_request(backend: Backend) {
    let server = harness::spawn(backend).await;
    let address = email("unrecorded");
    server.register(&address).await;
    harness::execute(&server.config, &["DROP TABLE audit_events".to_owned()]).await;
    assert!(server.login(&address, PASSWORD).await.is_ok());
    assert_error(
        server.login(&address, "not the password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    server.register(&email("unrecorded-too")).await;
}

async fn events_past_the_retention_are_purged(backend: Backend) {
    let server = harness::spawn_stepped(backend, |c| {
        c.audit_retention = Duration::from_secs(3600);
        c.purge_interval = Duration::from_secs(1);
    })
    .await;
    server.register(&email("old-news")).await;
    let query = "SELECT COUNT(*) FROM audit_events";
    assert_eq!(harness::count(&server.config, query).await, 1);
    server.clock.advance(Duration::from_secs(3599));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(harness::count(&server.config, query).await, 1, "kept");
    server.clock.advance(Duration::from_secs(2));
    let config = server.config.clone();
    let purged = harness::eventually(Duration::from_secs(5), || {
        let config = config.clone();
        async move { harness::count(&config, query).await == 0 }
    })
    .await;
    assert!(purged, "the event past the retention was purged");
}

on_both_backends!(
    the_trail_tells_an_accounts_story_and_holds_no_secret,
    the_trail_is_read_in_pages_and_by_time,
    a_failed_audit_write_never_fails_the_request,
    events_past_the_retention_are_purged,
);
