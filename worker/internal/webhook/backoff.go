package webhook

import "time"

// Schedule is the wait before each retry of a failed delivery: attempt
// n+1 (n = 1, 2, ...) waits Schedule[n-1] after attempt n failed. After the
// last, the delivery has failed and its webhook is disabled. The default
// spans about 27 hours: exponential at first, then every 10 hours.
var Schedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Retry returns when to try again after attempts failed ones under
// schedule, and false when there is no next attempt.
func Retry(schedule []time.Duration, attempts int, failedAt time.Time) (time.Time, bool) {
	if attempts < 1 || attempts > len(schedule) {
		return time.Time{}, false
	}
	return failedAt.Add(schedule[attempts-1]), true
}
