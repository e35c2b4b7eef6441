//! The authorization matrix (OWASP API1/API3): every route that takes an id, asked by the owner,
//! a stranger and nobody, against the contract's ownership and visibility rules.

use reqwest::Method;
use serde_json::json;

use j0_client::{Capability, PostJob};
use j0_testkit::{Session, spawn_app};

#[derive(Clone, Copy, Debug)]
enum Who {
    Owner,
    Stranger,
    Anonymous,
}

#[tokio::test(flavor = "multi_thread")]
async fn each_id_route_answers_owner_stranger_and_anonymous_as_the_contract_says() {
    let app = spawn_app().await;
    let secret = format!("{}{}", "s".repeat(200), "the private part");
    let posted = app
        .posted_job(
            1_000,
            PostJob::new(Capability::Opus, 10, 30, secret.clone()),
        )
        .await;
    let (owner, id) = (&posted.requester, posted.id());
    let stranger = app.new_user().await;
    let user_path = format!("/users/{}", owner.user_id);
    let job_path = format!("/jobs/{id}");

    // Raw: the matrix is of HTTP requests, the anonymous ones (which the client would refuse
    // to send) among them.
    let raw = |who: Who| match who {
        Who::Owner => owner.raw(),
        Who::Stranger => stranger.raw(),
        Who::Anonymous => app.raw(),
    };
    // (who, method, path, body, expected status, expected code or "")
    let reads: Vec<(Who, Method, String, u16, &str)> = vec![
        (Who::Owner, Method::GET, user_path.clone(), 200, ""),
        (Who::Stranger, Method::GET, user_path.clone(), 200, ""),
        (Who::Anonymous, Method::GET, user_path.clone(), 200, ""),
        (Who::Owner, Method::GET, job_path.clone(), 200, ""),
        (Who::Stranger, Method::GET, job_path.clone(), 200, ""),
        (
            Who::Anonymous,
            Method::GET,
            job_path.clone(),
            401,
            "UNAUTHORIZED",
        ),
        (
            Who::Anonymous,
            Method::POST,
            format!("{job_path}/accept"),
            401,
            "UNAUTHORIZED",
        ),
        (
            Who::Anonymous,
            Method::POST,
            format!("{job_path}/cancel"),
            401,
            "UNAUTHORIZED",
        ),
        (
            Who::Owner,
            Method::POST,
            format!("{job_path}/accept"),
            403,
            "OWN_JOB",
        ),
        (
            Who::Stranger,
            Method::POST,
            format!("{job_path}/cancel"),
            403,
            "NOT_THE_REQUESTER",
        ),
        (
            Who::Owner,
            Method::POST,
            format!("{job_path}/complete"),
            400,
            "JOB_NOT_ACCEPTED",
        ),
    ];
    let result = json!({ "result": "done" });
    for (who, method, path, status, code) in reads {
        let body = path.ends_with("/complete").then_some(&result);
        let r = raw(who).call(method.clone(), &path, body).await;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{who:?} {method} {path}: {}",
            r.body
        );
        if !code.is_empty() {
            assert_eq!(r.code(), code, "{who:?} {method} {path}");
        }
    }
    let public = app.raw().get(&user_path).await.ok();
    assert!(public.get("identity_type").is_none(), "public view only");
    let seen_by_stranger = stranger.job(id).await.unwrap();
    assert_eq!(
        (
            seen_by_stranger.prompt.len(),
            seen_by_stranger.prompt_truncated
        ),
        (200, true)
    );
    assert_eq!(owner.job(id).await.unwrap().prompt, secret);

    stranger.accept_job(id).await.unwrap();
    let third = app.new_user().await;
    let after_accept: Vec<(&Session, &str, u16, &str)> = vec![
        (owner, "complete", 403, "NOT_THE_WORKER"),
        (&third, "complete", 403, "NOT_THE_WORKER"),
        (owner, "cancel", 400, "JOB_ALREADY_ACCEPTED"),
        (&third, "cancel", 403, "NOT_THE_REQUESTER"),
        (&stranger, "cancel", 403, "NOT_THE_REQUESTER"),
    ];
    for (who, action, status, code) in after_accept {
        let refused = match action {
            "complete" => who.complete_job(id, "done").await.map(drop),
            _ => who.cancel_job(id).await.map(drop),
        };
        let e = refused.expect_err(action);
        assert_eq!(
            (e.status(), e.code()),
            (Some(status), Some(code)),
            "{action} by user {}",
            who.user_id
        );
    }
    app.raw()
        .post(&format!("{job_path}/complete"), &result)
        .await
        .assert_error(401, "UNAUTHORIZED");
    let done = stranger.complete_job(id, "done").await.unwrap();
    assert_eq!(done.job.result.as_deref(), Some("done"));
    assert_eq!(
        third.job(id).await.unwrap().result,
        None,
        "results are for participants"
    );
    assert_eq!(owner.job(id).await.unwrap().result.as_deref(), Some("done"));

    let own_history = owner.transactions(None, None).await.unwrap();
    assert!(own_history.iter().all(|t| t.user_id == owner.user_id));
    app.assert_ledger_clean().await;
}
