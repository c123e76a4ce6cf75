package scimlog

import (
	"context"
	"strings"
	"time"
)

// Partitions is what the janitor needs of storage: the log is partitioned
// by UTC day (scim_requests_pYYYYMMDD) with a default partition for rows
// outside them.
type Partitions interface {
	// LogPartitions lists the daily partitions' names.
	LogPartitions(ctx context.Context) ([]string, error)
	// CreateLogPartition creates the partition of the UTC day starting at
	// day, if missing.
	CreateLogPartition(ctx context.Context, name string, day time.Time) error
	DropLogPartition(ctx context.Context, name string) error
	// ExpireDefaultPartition deletes the default partition's rows before
	// horizon.
	ExpireDefaultPartition(ctx context.Context, horizon time.Time) error
	RetentionDays(ctx context.Context) (int, error)
	SetRetentionDays(ctx context.Context, days int) error
}

// partitionPrefix starts the name of every daily partition.
const partitionPrefix = "scim_requests_p"

// PartitionName is the name of the partition of the UTC day of t.
func PartitionName(t time.Time) string { return partitionPrefix + t.UTC().Format("20060102") }

// partitionsAhead is how many days past today have their partition ready.
const partitionsAhead = 2

// Maintain is one round of the log's janitor, which the worker runs when
// it binds and hourly while its tenant is active: the partitions of the
// day of now and the two after it exist, and those past the tenant's
// retention are dropped. It returns the partitions dropped.
func Maintain(ctx context.Context, st Partitions, now time.Time) ([]string, error) {
	if err := EnsurePartitions(ctx, st, now, partitionsAhead); err != nil {
		return nil, err
	}
	days, err := st.RetentionDays(ctx)
	if err != nil {
		return nil, err
	}
	return expire(ctx, st, now, days)
}

// EnsurePartitions creates the daily partitions from the day of now to
// ahead days after.
func EnsurePartitions(ctx context.Context, st Partitions, now time.Time, ahead int) error {
	today := now.UTC().Truncate(24 * time.Hour)
	for i := 0; i <= ahead; i++ {
		day := today.AddDate(0, 0, i)
		if err := st.CreateLogPartition(ctx, PartitionName(day), day); err != nil {
			return err
		}
	}
	return nil
}

// expire drops the daily partitions that end before the retention
// horizon (now less days) and deletes the default partition's rows
// before it.
func expire(ctx context.Context, st Partitions, now time.Time, days int) ([]string, error) {
	horizon := now.UTC().AddDate(0, 0, -days)
	names, err := st.LogPartitions(ctx)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, name := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(name, partitionPrefix))
		if err != nil || !strings.HasPrefix(name, partitionPrefix) || day.AddDate(0, 0, 1).After(horizon) {
			continue
		}
		if err := st.DropLogPartition(ctx, name); err != nil {
			return dropped, err
		}
		dropped = append(dropped, name)
	}
	return dropped, st.ExpireDefaultPartition(ctx, horizon)
}
