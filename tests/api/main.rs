//! The black-box tests: one binary, sharing `helpers`.

mod cli;
mod conversation;
mod dispatch;
mod faults;
mod helpers;
mod schedules;
mod store_contract;
mod telegram;
mod whatsapp;
