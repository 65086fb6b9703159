//! The WhatsApp webhook body after its signature was checked: `read_body`, then every message as
//! the conversation gets it. Properties: only a body that is not JSON is refused as such; every
//! message of the body is read, in order, with its id, from the person who sent it (trimmed,
//! never a group), and a button's data is exactly what Meta carried.
#![no_main]

use amtsbote::channels::whatsapp_webhook::{BodyError, read_body};
use amtsbote::conversation::Input;
use amtsbote::domain::ChannelKind;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    let as_json = serde_json::from_slice::<Value>(body);
    let payload = match read_body(body) {
        Ok(p) => p,
        Err(BodyError::NotJson(_)) => {
            assert!(as_json.is_err(), "JSON refused as not JSON");
            return;
        }
        Err(BodyError::Shape(_)) => {
            assert!(
                as_json.is_ok(),
                "not JSON, but read as JSON of another shape"
            );
            return;
        }
    };
    let Ok(json) = as_json else {
        panic!("read a body that is not JSON");
    };
    // What Meta listed, read independently from the JSON.
    let listed: Vec<&Value> = items(field(&json, "entry", 0))
        .flat_map(|e| items(field(e, "changes", 0)))
        .flat_map(|c| items(field(field(c, "value", 0), "messages", 0)))
        .collect();
    let messages: Vec<_> = payload.messages().collect();
    assert_eq!(messages.len(), listed.len(), "every message is read");
    for (m, raw) in messages.iter().zip(listed) {
        assert_eq!(Some(m.id.as_str()), field(raw, "id", 1).as_str());
        let i = &m.incoming;
        assert_eq!(i.channel, ChannelKind::Whatsapp);
        assert!(i.private, "WhatsApp messages come from one person");
        assert_eq!(i.chat, i.sender, "answers go to the sender");
        assert_eq!(
            Some(i.sender.as_str()),
            field(raw, "from", 0).as_str().map(str::trim)
        );
        assert_eq!(i.language_hint, None);
        match &i.input {
            Input::Text(t) => {
                if let Some(body) = field(field(raw, "text", 3), "body", 0).as_str() {
                    assert_eq!(t, body, "a text is what was written");
                }
            }
            Input::Button {
                data,
                callback_id,
                message_id,
            } => {
                assert!(callback_id.is_none() && message_id.is_none());
                let interactive = field(raw, "interactive", 4);
                let carried = [
                    field(field(interactive, "button_reply", 0), "id", 0),
                    field(field(interactive, "list_reply", 1), "id", 0),
                    field(field(raw, "button", 5), "payload", 0),
                ];
                assert!(
                    carried.iter().any(|v| v.as_str() == Some(data.as_str())),
                    "button data {data:?} is what Meta carried"
                );
            }
            Input::Blocked => panic!("a WhatsApp message never means blocked"),
        }
        if let Some(ms) = m.sent_at_ms {
            let secs: i64 = field(raw, "timestamp", 2)
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("a time from nothing: {ms}"));
            assert_eq!(secs.checked_mul(1000), Some(ms), "seconds become ms");
        }
    }
});

/// A struct's field as serde reads it: by name from an object, or by position from an array
/// (serde's derive accepts both).
fn field<'a>(v: &'a Value, name: &str, position: usize) -> &'a Value {
    match v {
        Value::Array(a) => a.get(position).unwrap_or(&Value::Null),
        _ => &v[name],
    }
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}
