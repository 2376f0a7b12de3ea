use serde_json::json;

use super::*;

mod page_documents;

fn documents(mode: TrustedDocuments) -> Documents {
    let mut settings = crate::settings::Settings::defaults()
        .expect("the defaults parse")
        .documents;
    settings.trusted_documents = mode;
    Documents::new(&settings).expect("the page's manifest reads")
}

fn apq(hash: &str) -> Value {
    json!({ "version": 1, "sha256Hash": hash })
}

#[test]
fn the_hash_is_the_drafts_sha256_hex_document_identifier() {
    // The two examples of the GraphQL-over-HTTP draft's Appendix A.
    let spaced = "query ($id: ID!) {\n  user(id: $id) {\n    name\n  }\n}";
    assert_eq!(
        DocumentHash::of(spaced).document_id(),
        "sha256:7dba4bd717b41f10434822356a93c32b1fb4907b983e854300ad839f84cdcd6e"
    );
    let tight = "query($id:ID!){user(id:$id){name}}";
    assert_eq!(
        DocumentHash::of(tight).document_id(),
        "sha256:71f7dc5758652baac68e4a10c50be732b741c892ade2883a99358f52b555286b"
    );
    let hex = DocumentHash::of(tight).to_string();
    assert_eq!(DocumentHash::parse_hex(&hex), Some(DocumentHash::of(tight)));
    assert_eq!(DocumentHash::parse_hex(&hex.to_uppercase()), None);
    assert_eq!(DocumentHash::parse_hex(&hex[1..]), None);
}

#[test]
fn an_apq_hash_alone_is_found_once_registered_and_not_before() {
    let documents = documents(TrustedDocuments::Allow);
    let text = "query Mine { __typename }";
    let hash = DocumentHash::of(text).to_string();
    let pq = apq(&hash);
    let alone = Asked {
        persisted_query: Some(&pq),
        ..Asked::default()
    };
    assert_eq!(
        documents.resolve(&alone).map(|r| r.text),
        Err(Refusal::PersistedQueryNotFound)
    );
    let with_text = documents
        .resolve(&Asked {
            query: Some(text),
            persisted_query: Some(&pq),
            ..Asked::default()
        })
        .expect("the text matches its hash");
    let register = with_text
        .unregistered()
        .expect("an unknown text is to be registered");
    documents.register(register);
    let found = documents.resolve(&alone).expect("registered");
    assert_eq!(&*found.text, text);
    assert!(!found.from_manifest, "learnt by APQ is not trusted");
    let by_id = documents
        .resolve(&Asked {
            document_id: Some(&format!("sha256:{hash}")),
            ..Asked::default()
        })
        .expect("documentId resolves registered texts too");
    assert_eq!(&*by_id.text, text);
}

#[test]
fn every_malformed_identifier_is_a_bad_request_and_a_long_one_before_anything_else() {
    let documents = documents(TrustedDocuments::Off);
    let long = format!("sha256:{}", "a".repeat(65));
    // Off would refuse the hash as NOT_SUPPORTED, but its length is looked at first.
    let refused = documents.resolve(&Asked {
        document_id: Some(&long),
        ..Asked::default()
    });
    assert!(
        matches!(refused, Err(Refusal::BadRequest(_))),
        "{refused:?}"
    );
    let pq = apq(&"a".repeat(72));
    let refused = documents.resolve(&Asked {
        persisted_query: Some(&pq),
        ..Asked::default()
    });
    assert!(
        matches!(refused, Err(Refusal::BadRequest(_))),
        "{refused:?}"
    );

    let documents = self::documents(TrustedDocuments::Allow);
    let text = "{ __typename }";
    let right = DocumentHash::of(text).to_string();
    let cases: Vec<(Option<&str>, Option<String>, Option<Value>)> = vec![
        (
            Some(text),
            None,
            Some(apq(&DocumentHash::of("{ other }").to_string())),
        ),
        (
            None,
            None,
            Some(json!({ "version": 2, "sha256Hash": right })),
        ),
        (None, None, Some(json!({ "sha256Hash": right }))),
        (None, None, Some(json!("not an object"))),
        (None, None, Some(apq(&right.to_uppercase()))),
        (None, Some(right.clone()), None),
        (None, Some(format!("md5:{}", &right[..32])), None),
        (Some(text), Some(format!("sha256:{right}")), None),
        (None, Some(format!("sha256:{right}")), Some(apq(&right))),
    ];
    for (query, document_id, persisted_query) in &cases {
        let refused = documents.resolve(&Asked {
            query: *query,
            document_id: document_id.as_deref(),
            persisted_query: persisted_query.as_ref(),
        });
        assert!(
            matches!(refused, Err(Refusal::BadRequest(_))),
            "{query:?} {document_id:?} {persisted_query:?}: {refused:?}"
        );
    }
}

#[test]
fn off_refuses_hashes_and_runs_text() {
    let documents = documents(TrustedDocuments::Off);
    let pq = apq(&DocumentHash::of("{ __typename }").to_string());
    let refused = documents.resolve(&Asked {
        persisted_query: Some(&pq),
        ..Asked::default()
    });
    assert_eq!(refused.map(|r| r.text), Err(Refusal::NotSupported));
    let id = DocumentHash::of("{ __typename }").document_id();
    let refused = documents.resolve(&Asked {
        document_id: Some(&id),
        ..Asked::default()
    });
    assert_eq!(refused.map(|r| r.text), Err(Refusal::NotSupported));
    let text = documents.resolve(&Asked {
        query: Some("{ __typename }"),
        ..Asked::default()
    });
    assert!(text.is_ok());
}

#[test]
fn only_admits_the_page_s_documents_from_anyone_and_free_text_from_the_accountable() {
    let documents = documents(TrustedDocuments::Only);
    let page_text = documents
        .manifest
        .texts()
        .next()
        .expect("the page has documents")
        .to_owned();
    let page = documents
        .resolve(&Asked {
            query: Some(&page_text),
            ..Asked::default()
        })
        .expect("the page's text");
    assert!(page.from_manifest);
    assert_eq!(documents.admits(&page, &Viewer::Anonymous), Ok(()));
    let free = documents
        .resolve(&Asked {
            query: Some("{ __typename }"),
            ..Asked::default()
        })
        .expect("text resolves; the rule is applied after");
    assert_eq!(
        documents.admits(&free, &Viewer::Anonymous),
        Err(Refusal::NotInList)
    );
    assert!(!documents.admits_anyone(&free));
    assert!(documents.admits_anyone(&page));
    let by_id = documents
        .resolve(&Asked {
            document_id: Some(&DocumentHash::of(&page_text).document_id()),
            ..Asked::default()
        })
        .expect("the page's id");
    assert!(by_id.from_manifest);
}
