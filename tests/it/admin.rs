//! AdminService through the real server: the guard, users, roles, sessions.

use tessera::auth::RoleEdit;
use tessera::proto::admin_service_client::AdminServiceClient;
use tessera::proto::{
    DeleteUserRequest, DisableUserRequest, EnableUserRequest, GetUserRequest, ListSessionsRequest,
    ListUsersRequest, ListUsersResponse, RevokeAllSessionsRequest, RevokeSessionRequest,
    SetRolesRequest, User,
};
use tonic::transport::Channel;
use tonic::{Code, Request};

use crate::harness::{self, Backend, PASSWORD, TestServer, assert_error, email, on_both_backends};

/// A client of the admin API that sends `token` as its bearer token.
pub struct Admin {
    client: AdminServiceClient<Channel>,
    token: String,
}

impl Admin {
    /// Makes an admin (the operator command grants the role) and logs them in.
    pub async fn of(server: &TestServer) -> Admin {
        let address = email("admin");
        server.register(&address).await;
        tessera::admin::change_role(&server.config.store, &address, "admin", RoleEdit::Grant)
            .await
            .unwrap();
        let token = server.new_session(&address).await.access_token;
        Admin::with_token(server, &token).await
    }

    pub async fn with_token(server: &TestServer, token: &str) -> Admin {
        Admin {
            client: AdminServiceClient::new(server.channel().await),
            token: token.to_owned(),
        }
    }

    pub fn ask<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if !self.token.is_empty() {
            let value = format!("Bearer {}", self.token).parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    pub fn client(&self) -> AdminServiceClient<Channel> {
        self.client.clone()
    }

    pub async fn get(&self, user_id: &str) -> Result<User, tonic::Status> {
        let request = self.ask(GetUserRequest {
            user_id: user_id.into(),
        });
        let answer = self.client().get_user(request).await?;
        Ok(answer.into_inner().user.unwrap())
    }

    async fn list(&self, request: ListUsersRequest) -> Result<ListUsersResponse, tonic::Status> {
        let answer = self.client().list_users(self.ask(request)).await?;
        Ok(answer.into_inner())
    }
}

async fn only_a_live_admin_token_passes_the_guard(backend: Backend) {
    let server = harness::spawn(backend).await;
    let (someone, pair) = server.login_as(&email("someone")).await;
    let get = |admin: Admin| {
        let id = someone.id.clone();
        async move { admin.get(&id).await }
    };

    let nobody = Admin::with_token(&server, "").await;
    assert_error(get(nobody).await, Code::Unauthenticated, "TOKEN_INVALID");
    let forged = Admin::with_token(&server, "not.a.token").await;
    assert_error(get(forged).await, Code::Unauthenticated, "TOKEN_INVALID");
    let user = Admin::with_token(&server, &pair.access_token).await;
    assert_error(get(user).await, Code::PermissionDenied, "PERMISSION_DENIED");

    let admin = Admin::of(&server).await;
    let found = admin.get(&someone.id).await.unwrap();
    assert_eq!(found.email, someone.email);
    assert!(!found.disabled);

    // An admin whose session ended is refused at once, as Verify refuses.
    let address = email("admin-gone");
    server.register(&address).await;
    tessera::admin::change_role(&server.config.store, &address, "admin", RoleEdit::Grant)
        .await
        .unwrap();
    let session = server.new_session(&address).await;
    let gone = Admin::with_token(&server, &session.access_token).await;
    assert!(gone.get(&someone.id).await.is_ok());
    server.logout(&session.refresh_token, false).await.unwrap();
    assert_error(
        gone.get(&someone.id).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
}

async fn users_are_listed_by_email_in_pages_and_filtered(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let tag = format!(
        "list{}",
        &tessera::domain::UserId::random().to_string()[..8]
    );
    let mut emails = Vec::new();
    for n in 0..5 {
        let address = format!("{tag}_{n}@example.com");
        server.register(&address).await;
        emails.push(address);
    }
    // `_` is a wildcard to SQL's LIKE: a prefix that contains one matches only itself.
    server.register(&format!("{tag}x@example.com")).await;

    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin
            .list(ListUsersRequest {
                page_size: 2,
                page_token: page_token.clone(),
                email_prefix: format!("{}_", tag.to_uppercase()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.users.len() <= 2);
        seen.extend(page.users.into_iter().map(|u| u.email));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, emails);

    let target = admin.id_of(&emails[3]).await;
    admin
        .client()
        .set_roles(admin.ask(SetRolesRequest {
            user_id: target,
            roles: vec!["user".into(), "audit_reader".into()],
        }))
        .await
        .unwrap();
    let holders = admin
        .list(ListUsersRequest {
            email_prefix: tag.clone(),
            role: "audit_reader".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let holders: Vec<_> = holders.users.into_iter().map(|u| u.email).collect();
    assert_eq!(holders, vec![emails[3].clone()]);

    let too_big = admin
        .list(ListUsersRequest {
            page_size: 501,
            ..Default::default()
        })
        .await;
    assert_error(too_big, Code::InvalidArgument, "INVALID_ARGUMENT");
    let foreign = admin
        .list(ListUsersRequest {
            page_token: "%%%".into(),
            ..Default::default()
        })
        .await;
    assert_error(foreign, Code::InvalidArgument, "INVALID_ARGUMENT");
}

impl Admin {
    /// The id of the user with this email, found through ListUsers.
    async fn id_of(&self, address: &str) -> String {
        let page = self
            .list(ListUsersRequest {
                email_prefix: address.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        page.users[0].id.clone()
    }
}

async fn a_disabled_user_cannot_log_in_or_refresh_until_enabled(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let address = email("disabled");
    let (user, pair) = server.login_as(&address).await;

    let disabled = admin
        .client()
        .disable_user(admin.ask(DisableUserRequest {
            user_id: user.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(disabled.revoked_sessions, 1);
    let shown = disabled.user.unwrap();
    assert!(shown.disabled && shown.disabled_at.is_some());

    harness::assert_revoked(&server, &pair.access_token).await;
    assert_error(
        server.refresh(&pair.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );
    // The password is checked first: a wrong one learns nothing of the account.
    assert_error(
        server.login(&address, "not the password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_error(
        server.login(&address, PASSWORD).await,
        Code::PermissionDenied,
        "ACCOUNT_DISABLED",
    );
    assert!(admin.get(&user.id).await.unwrap().disabled);

    let enabled = admin
        .client()
        .enable_user(admin.ask(EnableUserRequest {
            user_id: user.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!enabled.user.unwrap().disabled);
    let again = server.new_session(&address).await;
    assert!(server.verify(&again.access_token).await.is_ok());
    // The sessions revoked by the disabling stay revoked.
    assert_error(
        server.refresh(&pair.refresh_token).await,
        Code::Unauthenticated,
        "TOKEN_REVOKED",
    );

    let nobody = tessera::domain::UserId::random().to_string();
    let missing = admin
        .client()
        .disable_user(admin.ask(DisableUserRequest { user_id: nobody }))
        .await;
    assert_error(missing, Code::NotFound, "USER_NOT_FOUND");
    let malformed = admin
        .client()
        .disable_user(admin.ask(DisableUserRequest {
            user_id: "42".into(),
        }))
        .await;
    assert_error(malformed, Code::InvalidArgument, "INVALID_ARGUMENT");
}

async fn new_roles_reach_tokens_at_the_next_refresh(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let (user, pair) = server.login_as(&email("roles")).await;
    let set = |roles: Vec<&str>| {
        let mut client = admin.client();
        let request = admin.ask(SetRolesRequest {
            user_id: user.id.clone(),
            roles: roles.into_iter().map(String::from).collect(),
        });
        async move { client.set_roles(request).await }
    };

    let answer = set(vec!["user", "billing", "billing"])
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.roles, vec!["user", "billing"]);
    assert!(answer.effective_at_next_refresh);
    let before = server.verify(&pair.access_token).await.unwrap();
    assert_eq!(before.roles, vec!["user"]);
    let refreshed = server.refresh(&pair.refresh_token).await.unwrap();
    let after = server.verify(&refreshed.access_token).await.unwrap();
    assert_eq!(after.roles, vec!["user", "billing"]);
    assert_eq!(admin.get(&user.id).await.unwrap().roles, after.roles);

    assert_error(
        set(vec!["Not A Role"]).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    let too_many: Vec<String> = (0..33).map(|n| format!("r{n}")).collect();
    let refused = admin
        .client()
        .set_roles(admin.ask(SetRolesRequest {
            user_id: user.id.clone(),
            roles: too_many,
        }))
        .await;
    assert_error(refused, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(
        admin.get(&user.id).await.unwrap().roles,
        vec!["user", "billing"]
    );
}

async fn sessions_are_listed_and_revoked_one_or_all(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let address = email("sessions");
    let (user, first) = server.login_as(&address).await;
    let second = server.new_session(&address).await;
    let third = server.new_session(&address).await;
    let list = |page_size: u32, page_token: String| {
        let mut client = admin.client();
        let request = admin.ask(ListSessionsRequest {
            user_id: user.id.clone(),
            page_size,
            page_token,
        });
        async move { client.list_sessions(request).await }
    };

    let page = list(2, String::new()).await.unwrap().into_inner();
    assert_eq!(page.sessions.len(), 2);
    assert!(!page.next_page_token.is_empty());
    let rest = list(2, page.next_page_token).await.unwrap().into_inner();
    assert_eq!(rest.sessions.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let mut listed: Vec<_> = page
        .sessions
        .iter()
        .chain(&rest.sessions)
        .map(|s| s.id.clone())
        .collect();
    listed.sort();
    let mut expected: Vec<_> = [&first, &second, &third]
        .iter()
        .map(|p| harness::session_of(&p.access_token))
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(page.sessions.iter().all(|s| s.user_id == user.id));

    let revoke_one = |sid: String| {
        let mut client = admin.client();
        let request = admin.ask(RevokeSessionRequest { session_id: sid });
        async move { client.revoke_session(request).await }
    };
    let one = harness::session_of(&second.access_token);
    assert!(revoke_one(one.clone()).await.unwrap().into_inner().was_live);
    assert!(!revoke_one(one).await.unwrap().into_inner().was_live);
    harness::assert_revoked(&server, &second.access_token).await;
    assert!(server.verify(&first.access_token).await.is_ok());
    let unknown = tessera::domain::SessionId::random().to_string();
    assert_error(
        revoke_one(unknown).await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );

    let all = admin
        .client()
        .revoke_all_sessions(admin.ask(RevokeAllSessionsRequest {
            user_id: user.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.revoked_sessions, 2);
    for pair in [&first, &third] {
        harness::assert_revoked(&server, &pair.access_token).await;
    }
    let none = list(0, String::new()).await.unwrap().into_inner();
    assert!(none.sessions.is_empty());
}

async fn a_deleted_user_is_gone_and_their_email_free(backend: Backend) {
    let server = harness::spawn(backend).await;
    let admin = Admin::of(&server).await;
    let address = email("deleted");
    let (user, pair) = server.login_as(&address).await;

    let deleted = admin
        .client()
        .delete_user(admin.ask(DeleteUserRequest {
            user_id: user.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.revoked_sessions, 1);
    harness::assert_revoked(&server, &pair.access_token).await;
    assert_error(admin.get(&user.id).await, Code::NotFound, "USER_NOT_FOUND");
    assert_error(
        server.login(&address, PASSWORD).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let again = admin
        .client()
        .delete_user(admin.ask(DeleteUserRequest {
            user_id: user.id.clone(),
        }))
        .await;
    assert_error(again, Code::NotFound, "USER_NOT_FOUND");

    // The default reuse delay is 0: the email is free at once, for someone new.
    let reborn = server.register(&address).await;
    assert_ne!(reborn.id, user.id);
    assert_eq!(reborn.roles, vec!["user"]);
}

on_both_backends!(
    only_a_live_admin_token_passes_the_guard,
    users_are_listed_by_email_in_pages_and_filtered,
    a_disabled_user_cannot_log_in_or_refresh_until_enabled,
    new_roles_reach_tokens_at_the_next_refresh,
    sessions_are_listed_and_revoked_one_or_all,
    a_deleted_user_is_gone_and_their_email_free,
);
