package conf

// ActivePriority is the priority group of s that takes the new flows,
// given which real servers are usable (usable(i): s.Backends[i] is
// healthy; the data plane at boot takes them all): the highest group with
// at least s.PriorityMin usable real servers of weight above 0, or, if no
// group has that many, the highest group with at least one. ok is false
// when no usable real server has a weight above 0: the service has no
// capacity (the sorry server, if any, stands in).
//
// This is the only definition of the rule: dsrlb-ctrl's policy and the
// data plane's boot state both call it. The real servers of the other
// groups get no new flows (state "standby": weight 0, their established
// flows stay); a lower group takes over when the higher one fails and
// hands back when it recovers.
func (s *Service) ActivePriority(usable func(i int) bool) (prio uint8, ok bool) {
	var count [256]int // usable real servers of weight > 0, by priority
	for i := range s.Backends {
		if s.Backends[i].Weight > 0 && usable(i) {
			count[s.Backends[i].Priority]++
		}
	}
	need := max(s.PriorityMin, 1) // a hand-made Service may leave it 0
	fallback, found := uint8(0), false
	for p := len(count) - 1; p >= 0; p-- {
		switch {
		case count[p] >= need:
			return uint8(p), true
		case count[p] > 0 && !found:
			fallback, found = uint8(p), true
		}
	}
	return fallback, found
}

// PriorityGroups reports whether s's real servers are in more than one
// priority group.
func (s *Service) PriorityGroups() bool {
	for i := range s.Backends {
		if s.Backends[i].Priority != s.Backends[0].Priority {
			return true
		}
	}
	return false
}
