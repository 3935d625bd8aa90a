/*-------------------------------------------------------------------------
 *
 * merge_types.h
 *	  apply_changes: what one call merges (MergeSpec) and its arguments
 *	  (MergeArgs), shared by merge_spec.c, which builds and registers it,
 *	  merge_exec.c, which runs it, and merge_sql.c, which writes its SQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEDALLION_MERGE_TYPES_H
#define MEDALLION_MERGE_TYPES_H

#include "nodes/pg_list.h"

/*
 * One column the merge writes into the target, typed as the target has it.
 *
 * The generated SQL runs as the caller, under the caller's search_path, so
 * it never names an operator bare: each comparison of a column uses its
 * type's default btree (or hash) operators, written schema-qualified
 * (MergeColumnOperators, merge_sql.c).
 */
typedef struct MergeColumn
{
	char	   *name;			/* unquoted */
	Oid			typid;			/* the target column's type and typmod */
	int32		typmod;
	char	   *type_sql;		/* the same, schema-qualified, for casts */
	bool		has_equality;	/* false: compare as text (json, point, ...) */
	bool		has_order;		/* false: sort as text */
	bool		is_row;			/* composite: IS NULL would test its fields */
	/* OPERATOR(schema.op) by btree strategy (1 <, 2 <=, 3 =, 4 >=, 5 >); [3] always set */
	char	   *op[6];
} MergeColumn;

/* Everything the generated statement depends on; built once per (target, options, source). */
typedef struct MergeSpec
{
	Oid			target;
	char	   *target_sql;		/* quoted, qualified */
	Oid			state_table;
	char	   *state_sql;
	int			scd_type;
	char	   *source_from;	/* "(query)" or a quoted table name */
	List	   *source_columns; /* every source column name, (char *) */
	List	   *source_types;	/* their types, (char *): the target's for applied columns */
	List	   *applied;		/* MergeColumn *: keys, then sequence, then values */
	List	   *keys;			/* MergeColumn *, subsets of applied */
	List	   *sequence;
	List	   *values;			/* applied minus keys and sequence */
	List	   *tracked;		/* SCD2: values that open a new version */
	List	   *untracked;		/* SCD2: values updated in place */
	char	   *delete_expr;	/* SQL over source columns, never NULL */
	char	   *truncate_expr;
	char	   *change_type_cast;	/* feeds: "::medallion.change_type" for _change_type literals, or "" */
	bool		pair_preimages; /* feed source: drop pre-images of key-preserving updates */
	bool		ignore_null_updates;
	bool		streaming;		/* SCD1 without truncates: MergeStreamSql, see merge_sql.c */
	bool		source_joins_nothing;	/* one table, function or VALUES list, no joins (DescribeSource) */
} MergeSpec;

/* sequence_by columns at most: merge_place.c's window functions take one argument per column. */
#define MERGE_SEQUENCE_MAX_COLUMNS 32

/* The fourth field of the advisory locktag that serialises merges into one target (PostgreSQL's own use 1 and 2). */
#define MERGE_TARGET_LOCKTAG 0x4D44
/* ... and of the lock a first merge holds on the state table name it chose (see CreateState). */
#define MERGE_STATE_NAME_LOCKTAG 0x4D4E

/* The arguments of one call, as C strings and lists of names. */
typedef struct MergeArgs
{
	Oid			target;
	char	   *source;
	List	   *keys;
	List	   *sequence;
	char	   *delete_when;
	char	   *truncate_when;
	List	   *columns;
	bool		columns_given;
	List	   *except_columns;
	bool		ignore_null_updates;
	int			scd_type;
	List	   *track;
	bool		track_given;
} MergeArgs;

#endif							/* MEDALLION_MERGE_TYPES_H */
