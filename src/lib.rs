//! Amtsbote: a city's broadcast bot for news, traffic notices and emergency alerts over Telegram
//! and WhatsApp, with a durable queue in which alerts overtake everything else.
//! This file only wires the modules; see DESIGN.md for the picture.

pub mod api;
pub mod archive;
pub mod backup;
pub mod ceiling;
pub mod channels;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod dashboard;
pub mod demo;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod outlets;
pub mod queue;
pub mod roles;
pub mod schedule;
pub mod service;
pub mod services;
pub mod simulator;
pub mod store;
pub mod warnings;
