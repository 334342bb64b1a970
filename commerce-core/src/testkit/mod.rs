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
//! commerce_core::search_index_conformance!(fresh_index); // an Arc of an empty index
//! ```
//!
//! A backend that needs an external service (PostgreSQL, Redis) is tested only where one is
//! configured. Its factory returns an `Option` of the backend and a guard, and the macro is
//! given `optional` before its name: `None` skips each test (the factory prints why, so a
//! skip is never silent), and the guard is dropped when the test ends, pass or panic, to
//! remove what the test created:
//!
//! ```ignore
//! async fn fresh() -> Option<(Arc<PostgresDatabase>, TestDatabase)> { /* None if unset */ }
//! commerce_core::account_store_conformance!(optional fresh);
//! ```
//!
//! Enabled by the `testkit` feature; meant for dev-dependencies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod accounts;
pub mod cache;
pub mod catalog;
pub mod mail;
pub mod orders;
pub mod queue;
pub mod rate_limit;
pub mod search;

/// Runs every account and token store test against backends made by `$fresh`, an async
/// function returning an `Arc` of a type implementing both `UserStore` and `TokenStore`; or,
/// as `optional $fresh`, an `Option` of such an `Arc` and a guard (see the module docs).
#[macro_export]
macro_rules! account_store_conformance {
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!(
            $($fresh)+,
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
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!($($fresh)+,
            catalog,
            [
                categories_round_trip,
                category_names_and_slugs_are_unique,
                category_moves_are_checked_one_at_a_time,
                categories_in_use_cannot_be_deleted,
                category_deletes_are_checked,
                products_round_trip,
                product_skus_and_slugs_are_unique,
                lists_filter_and_count,
                unfiltered_totals_follow_every_write,
                lists_order_and_paginate,
                products_are_fetched_by_ids,
                every_product_write_is_logged,
                old_changes_are_pruned,
                index_documents_follow_the_products,
                imports_are_all_or_nothing,
                deleted_product_ids_are_never_given_again,
            ]
        );
    };
}

/// Runs every cart and order store test against backends made by `$fresh`, an async function
/// returning an `Arc` of a type implementing every store a checkout touches
/// ([`orders::ShopStore`]).
#[macro_export]
macro_rules! order_store_conformance {
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!($($fresh)+, orders, [
            carts_belong_to_their_user,
            additions_stay_within_stock_and_limit,
            concurrent_additions_never_pass_the_stock,
            placing_an_order_is_one_transaction,
            placing_an_order_takes_its_quantities_from_the_cart,
            concurrent_checkouts_never_oversell,
            product_updates_keep_the_stock_orders_took,
            conditional_product_updates_fail_once_the_product_changed,
            conditional_product_deletes_fail_once_the_product_changed,
            idempotency_keys_make_one_order,
            status_changes_are_conditional,
            orders_list_newest_first,
        ]);
    };
}

/// Runs every cache test against caches made by `$fresh`, an async function returning an
/// `Arc` of a type implementing `Cache`; or, as `optional $fresh`, an `Option` of such an
/// `Arc` and a guard (see the module docs).
#[macro_export]
macro_rules! cache_conformance {
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!(
            $($fresh)+,
            cache,
            [
                stores_and_deletes_values,
                entries_expire_after_their_ttl,
                set_overwrites,
            ]
        );
    };
}

/// Runs every mailer test against mailers made by `$fresh`, an async function returning an
/// `Arc` of a type implementing `Mailer`; or, as `optional $fresh`, an `Option` of such an
/// `Arc` and a guard (a mail server the mailer sends to, say; see the module docs).
#[macro_export]
macro_rules! mailer_conformance {
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!(
            $($fresh)+,
            mail,
            [
                mail_to_an_address_is_accepted,
                a_recipient_that_is_no_address_is_refused,
            ]
        );
    };
}

/// Runs every rate limiter test against limiters made by `$fresh`, an async function
/// returning an `Arc` of a type implementing `RateLimiter`; or, as `optional $fresh`, an
/// `Option` of such an `Arc` and a guard (see the module docs).
#[macro_export]
macro_rules! rate_limiter_conformance {
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!(
            $($fresh)+,
            rate_limit,
            [
                counts_events_per_key,
                windows_are_fixed_from_their_first_event,
                reset_starts_the_count_again,
                concurrent_events_are_each_counted_once,
            ]
        );
    };
}

/// Runs every task queue test against queues made by `$fresh`, an async function returning an
/// `Arc` of a type implementing `TaskQueue`; or, as `optional $fresh`, an `Option` of such an
/// `Arc` and a guard (see the module docs).
#[macro_export]
macro_rules! task_queue_conformance {
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!(
            $($fresh)+,
            queue,
            [
                claims_due_tasks_once,
                future_tasks_wait,
                expired_leases_are_claimed_again,
                retried_tasks_wait_for_their_time,
                buried_tasks_are_never_claimed,
                buried_tasks_are_listed_requeued_and_discarded,
                concurrent_claims_never_share_a_task,
                claims_in_due_order,
                claims_and_completes_many,
                outcomes_of_a_superseded_claim_change_nothing,
                claims_only_the_jobs_asked_for,
                stranded_tasks_are_counted_per_job,
            ]
        );
    };
}

/// Runs every search index test against indexes made by `$fresh`, an async function
/// returning an `Arc` of a type implementing `SearchIndex`, new and empty for each test.
#[macro_export]
macro_rules! search_index_conformance {
    ($($fresh:ident)+) => {
        $crate::__conformance_tests!($($fresh)+,
            search,
            [
                fresh_index_is_empty_and_has_no_position,
                apply_records_its_position,
                matches_name_description_and_category,
                odd_input_never_fails,
                name_matches_rank_above_description_matches,
                relevance_ties_break_by_ascending_id,
                last_word_matches_as_prefix,
                multi_word_queries_need_every_word,
                empty_text_matches_every_filtered_product,
                filters_alone_and_combined,
                filters_hold_when_most_products_are_inactive_and_sold_out,
                every_ordering_breaks_ties_by_id,
                paginates_with_exact_totals,
                upserts_replace_and_deletes_remove,
                clear_empties_and_forgets_position,
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
    (optional $fresh:ident, $suite:ident, [$($test:ident),* $(,)?]) => {
        mod $suite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    // Named, not `_`, so that the guard lives until the test is over.
                    let Some((backend, _guard)) = super::$fresh().await else {
                        return;
                    };
                    $crate::testkit::$suite::$test(backend).await;
                }
            )*
        }
    };
}
