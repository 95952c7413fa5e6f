package main

import (
	"errors"
	"time"
)

// rateStats is how evenly calls arrived.
type rateStats struct {
	// mean is (n-1)/(last-first): the calls per second between the first and the last.
	mean float64
	// busiest is the most calls in one whole second counted from the first call
	// ([t0+k s, t0+(k+1) s)), the last, partial, second left out: a rate limit like DRUID's
	// counts per second, and a burst the mean hides would be refused.
	busiest int
	// seconds is the number of whole seconds busiest was taken over.
	seconds int
}

// analyzeRate reads the arrival times of a run's calls, earliest first.
func analyzeRate(times []time.Time) (rateStats, error) {
	if len(times) < 2 {
		return rateStats{}, errors.New("fewer than two calls: no rate to measure")
	}
	first, last := times[0], times[len(times)-1]
	span := last.Sub(first)
	if span <= 0 {
		return rateStats{}, errors.New("every call arrived at the same instant")
	}
	rs := rateStats{
		mean:    float64(len(times)-1) / span.Seconds(),
		seconds: int(span / time.Second),
	}
	perSecond := make([]int, rs.seconds)
	for _, t := range times {
		if k := int(t.Sub(first) / time.Second); k < rs.seconds {
			perSecond[k]++
		}
	}
	for _, n := range perSecond {
		rs.busiest = max(rs.busiest, n)
	}
	return rs, nil
}
