/*-------------------------------------------------------------------------
 *
 * change_bell.c
 *	  Wakes the one listener of a database (the flow runner of continuous
 *	  flows, src/flow/continuous.c) when changes may be ready to read: at
 *	  the commit of a transaction that captured changes, while the listener
 *	  is armed (it has continuous flows), and at the commit of a transaction
 *	  that closed a version or changed the flows it runs.  Nobody polls: the
 *	  listener sleeps on its latch until a commit rings.
 *
 * The bell lives in shared memory, so only when pg_medallion is preloaded;
 * otherwise every call here does nothing.  Capture pays one test of a
 * process-local flag per statement, and one SetLatch per committing
 * transaction while armed (a no-op when the latch is already set).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/change_bell.h"

#include "access/xact.h"
#include "port/atomics.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#define CHANGE_BELL_SHMEM_NAME "pg_medallion change bell"

typedef struct ChangeBell
{
	slock_t		mutex;			/* protects what follows */
	Latch	   *listener;		/* the flow runner's latch, or NULL */
	Oid			database;		/* the database it listens in */
	bool		armed;			/* captured commits ring (it has continuous flows) */
	pg_atomic_uint64 rings;		/* rings so far: latches are also reset by others' waits */
} ChangeBell;

static ChangeBell *bell = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* What this transaction will ring at its commit. */
static bool ring_at_commit = false;
static bool callback_registered = false;

static void
ChangeBellShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(ChangeBell)));
}

static void
ChangeBellShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bell = ShmemInitStruct(CHANGE_BELL_SHMEM_NAME, sizeof(ChangeBell), &found);
	if (!found)
	{
		memset(bell, 0, sizeof(ChangeBell));
		SpinLockInit(&bell->mutex);
		pg_atomic_init_u64(&bell->rings, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ChangeBellInit installs the shared-memory hooks; called from _PG_init while preloading. */
void
ChangeBellInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ChangeBellShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ChangeBellShmemStartup;
}

/* ChangeBellAvailable: the bell exists (pg_medallion is preloaded). */
bool
ChangeBellAvailable(void)
{
	return bell != NULL;
}

/* ChangeBellListen makes `latch` the listener of this database; armed: captured commits ring too. */
void
ChangeBellListen(Latch *latch, bool armed)
{
	if (bell == NULL)
		return;
	SpinLockAcquire(&bell->mutex);
	bell->listener = latch;
	bell->database = MyDatabaseId;
	bell->armed = armed;
	SpinLockRelease(&bell->mutex);
}

/* ChangeBellForget removes the listener (it exits). */
void
ChangeBellForget(void)
{
	if (bell == NULL)
		return;
	SpinLockAcquire(&bell->mutex);
	bell->listener = NULL;
	bell->armed = false;
	SpinLockRelease(&bell->mutex);
}

/* Ring wakes the listener of this database, if any. */
static void
Ring(void)
{
	Latch	   *latch = NULL;

	SpinLockAcquire(&bell->mutex);
	if (bell->listener != NULL && bell->database == MyDatabaseId)
		latch = bell->listener;
	SpinLockRelease(&bell->mutex);
	if (latch != NULL)
	{
		pg_atomic_fetch_add_u64(&bell->rings, 1);
		SetLatch(latch);
	}
}

/*
 * ChangeBellRings counts the rings so far.  The listener compares it before
 * and after its work: waits inside that work (a condition variable's) reset
 * its latch, so a ring during the work shows only here.
 */
uint64
ChangeBellRings(void)
{
	return bell == NULL ? 0 : pg_atomic_read_u64(&bell->rings);
}

/* ChangeBellXactCallback rings after a commit that asked for it; an abort forgets the request. */
static void
ChangeBellXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (ring_at_commit)
			{
				ring_at_commit = false;
				Ring();
			}
			break;
		case XACT_EVENT_PREPARE:
			/* COMMIT PREPARED may come from another session: ring now rather than never. */
			if (ring_at_commit)
			{
				ring_at_commit = false;
				Ring();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			ring_at_commit = false;
			break;
		default:
			break;
	}
}

/* ChangeBellRingAtCommit rings the bell when this transaction commits. */
void
ChangeBellRingAtCommit(void)
{
	if (bell == NULL || ring_at_commit)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(ChangeBellXactCallback, NULL);
		callback_registered = true;
	}
	ring_at_commit = true;
}

/*
 * ChangeBellNoteCapture: this transaction captured changes; they ring at its
 * commit while the listener is armed.  The unlocked read of `armed` may be
 * stale by a moment: the listener rereads its flows when it is armed.
 */
void
ChangeBellNoteCapture(void)
{
	if (bell == NULL || ring_at_commit || !bell->armed || bell->database != MyDatabaseId)
		return;
	ChangeBellRingAtCommit();
}
