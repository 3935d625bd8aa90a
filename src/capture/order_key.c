/*-------------------------------------------------------------------------
 *
 * order_key.c
 *	  Statement numbers for order keys (_seq).  A change row's order key is
 *	  its statement's number shifted left 20 bits plus the row's ordinal in
 *	  the statement, so _seq >> 20 identifies the statement.  The number is
 *	  drawn at the end of the writing statement, while the writer holds the
 *	  row locks, so for one row the transaction that changed it first always
 *	  draws the smaller number, whatever the xids are.
 *
 * Numbers are values of medallion.change_seq.  Without preloading, each
 * statement calls nextval.  Preloaded, the numbers come from a range kept
 * in shared memory per database and sequence, taken under a spinlock; the
 * range is refilled 1024 at a time by moving the sequence past it
 * (nextval, then setval), so small OLTP statements skip the sequence's
 * buffer lock and WAL.  A range belongs to the sequence it came from: a
 * re-created extension (a new sequence starting at 1) never takes numbers
 * from its predecessor's range.
 *
 * Numbers must only grow, for any one row, in the order its writers held
 * its lock: draws from the range are serialised by the spinlock, and a new
 * range starts above the sequence, so above every number handed out
 * before, also after a restart (shared memory starts empty; a change row
 * that survived a crash committed after the WAL record of the setval that
 * reserved its number, so that record survived too).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "capture/order_key.h"

#include "base/privilege.h"

#include "commands/sequence.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/fmgrprotos.h"

#define STATEMENT_NUMBERS_SHMEM_NAME "pg_medallion statement numbers"
#define STATEMENT_NUMBERS_PER_REFILL 1024
#define STATEMENT_NUMBER_RANGES 16

/*
 * One reserved range per database (each has its own medallion.change_seq,
 * and a re-created extension a new one): a range is only used by the
 * sequence it came from.  More databases than slots just refill more often.
 */
typedef struct StatementNumberRange
{
	Oid			database;
	Oid			sequence;
	int64		next;			/* the next number to hand out */
	int64		limit;			/* first number past the range */
} StatementNumberRange;

typedef struct StatementNumbers
{
	slock_t		mutex;			/* protects the ranges */
	LWLock	   *refill;			/* one backend reserves a range at a time */
	int			victim;			/* the slot the next new database takes */
	StatementNumberRange ranges[STATEMENT_NUMBER_RANGES];
} StatementNumbers;

static StatementNumbers *shared_numbers = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* StatementNumbersShmemRequest asks for the shared range (preloaded only). */
static void
StatementNumbersShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(StatementNumbers)));
	RequestNamedLWLockTranche(STATEMENT_NUMBERS_SHMEM_NAME, 1);
}

/* StatementNumbersShmemStartup attaches to the shared range, creating it empty (the first draw fills it). */
static void
StatementNumbersShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_numbers = ShmemInitStruct(STATEMENT_NUMBERS_SHMEM_NAME, sizeof(StatementNumbers), &found);
	if (!found)
	{
		memset(shared_numbers, 0, sizeof(StatementNumbers));
		SpinLockInit(&shared_numbers->mutex);
		shared_numbers->refill = &(GetNamedLWLockTranche(STATEMENT_NUMBERS_SHMEM_NAME))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* OrderKeyInit installs the shared-memory hooks; called from _PG_init while preloading. */
void
OrderKeyInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = StatementNumbersShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = StatementNumbersShmemStartup;
}

/* CheckNumber errors when a statement number no longer leaves room for the ordinal bits. */
static void
CheckNumber(int64 number)
{
	if (number >= (PG_INT64_MAX >> SEQ_ORDINAL_BITS))
		ereport(ERROR,
				(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
				 errmsg("medallion.change_seq is exhausted"),
				 errdetail("Order keys are the sequence's values times 2^20 plus a row ordinal.")));
}

/* FindRange returns this database's range of the sequence, or NULL (hold the mutex). */
static StatementNumberRange *
FindRange(Oid seq_oid)
{
	int			i;

	for (i = 0; i < STATEMENT_NUMBER_RANGES; i++)
	{
		StatementNumberRange *r = &shared_numbers->ranges[i];

		if (r->database == MyDatabaseId && r->sequence == seq_oid)
			return r;
	}
	return NULL;
}

/* TakeSharedNumber takes the next number of this database's range; false if there is none left. */
static bool
TakeSharedNumber(Oid seq_oid, int64 *number)
{
	StatementNumberRange *r;
	bool		taken = false;

	SpinLockAcquire(&shared_numbers->mutex);
	r = FindRange(seq_oid);
	if (r != NULL && r->next < r->limit)
	{
		*number = r->next++;
		taken = true;
	}
	SpinLockRelease(&shared_numbers->mutex);
	return taken;
}

/* InstallRange makes [first + 1, first + refill) this database's range of the sequence. */
static void
InstallRange(Oid seq_oid, int64 first)
{
	StatementNumberRange *r;

	SpinLockAcquire(&shared_numbers->mutex);
	r = FindRange(seq_oid);
	if (r == NULL)
	{
		/* Taking another database's slot is safe: it reserves a new range when it comes back. */
		r = &shared_numbers->ranges[shared_numbers->victim];
		shared_numbers->victim = (shared_numbers->victim + 1) % STATEMENT_NUMBER_RANGES;
		r->database = MyDatabaseId;
		r->sequence = seq_oid;
	}
	r->next = first + 1;
	r->limit = first + STATEMENT_NUMBERS_PER_REFILL;
	SpinLockRelease(&shared_numbers->mutex);
}

/*
 * ReserveNumbers moves the sequence past a range of numbers and returns its
 * first one.  setval needs UPDATE on the sequence, which writers need not
 * have: it runs as the extension owner.
 */
static int64
ReserveNumbers(Oid seq_oid)
{
	int64		first = nextval_internal(seq_oid, false);
	OwnerSwitch as_owner;

	CheckNumber(first + STATEMENT_NUMBERS_PER_REFILL);
	BeginAsOwner(&as_owner);
	(void) DirectFunctionCall2(setval_oid, ObjectIdGetDatum(seq_oid),
							   Int64GetDatum(first + STATEMENT_NUMBERS_PER_REFILL - 1));
	EndAsOwner(&as_owner);
	return first;
}

/* DrawStatementNumber returns a new statement number; call it while holding the statement's row locks. */
int64
DrawStatementNumber(Oid seq_oid)
{
	int64		number;

	if (shared_numbers == NULL)
	{
		/* Not preloaded: the sequence itself. */
		number = nextval_internal(seq_oid, false);
		CheckNumber(number);
		return number;
	}
	if (TakeSharedNumber(seq_oid, &number))
		return number;
	LWLockAcquire(shared_numbers->refill, LW_EXCLUSIVE);
	/* Someone may have refilled the range while we waited. */
	if (!TakeSharedNumber(seq_oid, &number))
	{
		number = ReserveNumbers(seq_oid);
		InstallRange(seq_oid, number);
	}
	LWLockRelease(shared_numbers->refill);
	return number;
}
