//! The black-box tests: one binary, sharing `helpers`.

mod alert_path;
mod areas;
mod chat_side;
mod cli;
mod conversation;
mod dashboard;
mod dispatch;
mod drills;
mod faults;
mod helpers;
mod http_api;
mod instances;
mod long_texts;
mod media;
mod one_way_in;
mod ops;
mod privacy;
mod public_http;
mod roles;
mod schedules;
mod signups;
mod store_contract;
mod telegram;
mod warnings;
mod whatsapp;
