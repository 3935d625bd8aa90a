# The test lists, read by the Makefile (make installcheck) and by test/run.
REGRESS_TESTS = feed_basics feed_transactions feed_partitioned feed_security consumers merge merge_statements merge_oracle flows flow_oracle retention time_travel schema_evolution decoder logical logical_ddl logical_limits logical_wal2json logical_resume feed_oracle logical_drop security bad_input upgrade
ISOLATION_TESTS = late_commit same_row_order read_concurrent consumer_race merge_concurrent vacuum_concurrent pull_concurrent merge_deadlock lockout flow_concurrent
