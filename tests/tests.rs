//! Integration tests: one module per tool or flow.

mod common;

mod bad_input;
mod cash;
mod cash_tools;
mod concurrency;
mod crash;
mod documents;
mod example;
mod fuzzing;
mod indicia;
mod journal;
mod lab;
mod large_goods;
mod ledger;
mod malformed;
mod man;
mod merchant;
mod meter;
mod recovery;
mod rulings;
mod settle;
mod vectors;
