//! The authorization matrix (OWASP API1/API3): every route that takes an id, asked by the owner,
//! a stranger and nobody, against the contract's ownership and visibility rules.

use reqwest::Method;
use serde_json::{Value, json};

use j0_testkit::{Session, TestApp, spawn_app};

#[derive(Clone, Copy, Debug)]
enum Who {
    Owner,
    Stranger,
    Anonymous,
}

async fn ask(
    app: &TestApp,
    who: Who,
    owner: &Session,
    stranger: &Session,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> j0_testkit::Response {
    let token = match who {
        Who::Owner => Some(owner.token.as_str()),
        Who::Stranger => Some(stranger.token.as_str()),
        Who::Anonymous => None,
    };
    app.call(method, path, token, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_id_route_answers_owner_stranger_and_anonymous_as_the_contract_says() {
    let app = spawn_app().await;
    let owner = app.funded_user(1_000).await;
    let stranger = app.new_user().await;
    let secret = format!("{}{}", "s".repeat(200), "the private part");
    let body = json!({"capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": secret});
    let job = owner.post(&app, "/jobs", &body).await.ok()["job"]["job_id"]
        .as_i64()
        .unwrap();
    let user_path = format!("/users/{}", owner.user_id);
    let job_path = format!("/jobs/{job}");

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
        let r = ask(&app, who, &owner, &stranger, method.clone(), &path, body).await;
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
    let public = app.get_anon(&user_path).await.ok();
    assert!(public.get("identity_type").is_none(), "public view only");
    let seen_by_stranger = stranger.get(&app, &job_path).await.ok();
    assert_eq!(
        (
            seen_by_stranger["prompt"].as_str().map(str::len),
            seen_by_stranger["prompt_truncated"].as_bool()
        ),
        (Some(200), Some(true))
    );
    assert_eq!(owner.get(&app, &job_path).await.ok()["prompt"], secret);

    stranger
        .post_empty(&app, &format!("{job_path}/accept"))
        .await
        .ok();
    let third = app.new_user().await;
    let after_accept: Vec<(&Session, &str, u16, &str)> = vec![
        (&owner, "complete", 403, "NOT_THE_WORKER"),
        (&third, "complete", 403, "NOT_THE_WORKER"),
        (&owner, "cancel", 400, "JOB_ALREADY_ACCEPTED"),
        (&third, "cancel", 403, "NOT_THE_REQUESTER"),
        (&stranger, "cancel", 403, "NOT_THE_REQUESTER"),
    ];
    for (who, action, status, code) in after_accept {
        let r = who
            .post(&app, &format!("{job_path}/{action}"), &result)
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (status, code),
            "{action} by user {}",
            who.user_id
        );
    }
    app.call(
        Method::POST,
        &format!("{job_path}/complete"),
        None,
        Some(&result),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    let done = stranger
        .post(&app, &format!("{job_path}/complete"), &result)
        .await
        .ok();
    assert_eq!(done["job"]["result"], "done");
    assert_eq!(
        third.get(&app, &job_path).await.ok()["result"],
        Value::Null,
        "results are for participants"
    );
    assert_eq!(owner.get(&app, &job_path).await.ok()["result"], "done");

    let own_history = owner.get(&app, "/credits/transactions").await.ok();
    assert!(
        own_history["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["user_id"].as_i64() == Some(owner.user_id.0))
    );
    app.assert_ledger_clean().await;
}
