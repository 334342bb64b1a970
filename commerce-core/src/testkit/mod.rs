//! Conformance suites: one per port, written once, run by every backend.
//!
//! Each suite is a set of async functions taking a fresh, empty backend behind the port's
//! trait; they panic with a message on any departure from the port's contract. A backend crate
//! runs them all with the matching macro, giving it a factory for fresh backends:
//!
//! ```ignore
//! async fn fresh() -> Arc<SqliteDatabase> { /* a new database file, migrated */ }
//! commerce_core::account_store_conformance!(fresh);
//! commerce_core::task_queue_conformance!(fresh);
//! ```
//!
//! Enabled by the `testkit` feature; meant for dev-dependencies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod accounts;
pub mod cache;
pub mod catalog;
pub mod queue;

/// Runs every account and token store test against backends made by `$fresh`, an async
/// function returning an `Arc` of a type implementing both `UserStore` and `TokenStore`.
#[macro_export]
macro_rules! account_store_conformance {
    ($fresh:ident) => {
        $crate::__conformance_tests!(
            $fresh,
            accounts,
            [
                creates_and_finds_users,
                usernames_and_emails_are_unique_ignoring_case,
                concurrent_registrations_create_one_user,
                refresh_tokens_are_spent_once,
                concurrent_spends_of_one_token_succeed_once,
                revoked_families_refuse_every_token,
                expired_tokens_are_refused_and_purged,
            ]
        );
    };
}

/// Runs every catalogue store test against stores made by `$fresh`, an async function
/// returning an `Arc` of a type implementing `CatalogStore`.
#[macro_export]
macro_rules! catalog_store_conformance {
    ($fresh:ident) => {
        $crate::__conformance_tests!($fresh, catalog, [
            categories_round_trip,
            category_names_and_slugs_are_unique,
            categories_in_use_cannot_be_deleted,
            products_round_trip,
            product_skus_and_slugs_are_unique,
            lists_filter_and_count,
            lists_order_and_paginate,
            products_are_fetched_by_ids,
            every_product_write_is_logged,
            index_documents_follow_the_products,
        ]);
    };
}

/// Runs every cache test against caches made by `$fresh`, an async function returning an
/// `Arc` of a type implementing `Cache`.
#[macro_export]
macro_rules! cache_conformance {
    ($fresh:ident) => {
        $crate::__conformance_tests!(
            $fresh,
            cache,
            [
                stores_and_deletes_values,
                entries_expire_after_their_ttl,
                set_overwrites,
            ]
        );
    };
}

/// Runs every task queue test against queues made by `$fresh`, an async function returning an
/// `Arc` of a type implementing `TaskQueue`.
#[macro_export]
macro_rules! task_queue_conformance {
    ($fresh:ident) => {
        $crate::__conformance_tests!(
            $fresh,
            queue,
            [
                claims_due_tasks_once,
                future_tasks_wait,
                expired_leases_are_claimed_again,
                retried_tasks_wait_for_their_time,
                buried_tasks_are_never_claimed,
                concurrent_claims_never_share_a_task,
                claims_in_due_order,
            ]
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($fresh:ident, $suite:ident, [$($test:ident),* $(,)?]) => {
        mod $suite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = super::$fresh().await;
                    $crate::testkit::$suite::$test(backend).await;
                }
            )*
        }
    };
}
