package pipeline

import (
	"reflect"
	"slices"
	"testing"
	"unsafe"

	"dsrlb/perf/counters"
)

// TestCounterLayout keeps the worker's counter struct, which the data
// plane places in shared memory, and the table the control process reads
// it with in step: a counter added to Counters but not to the table (or
// the other way round) fails here.
func TestCounterLayout(t *testing.T) {
	var names []string
	for _, d := range counters.Workers {
		names = append(names, d.Name)
	}
	if got := CounterNames(); !slices.Equal(got, names) {
		t.Fatalf("pipeline counters %q\ncounters.Workers    %q", got, names)
	}
	// The verdicts' counters follow rx_packets, rx_bytes and tx_bytes, each
	// classed as the verdict is.
	for v := Verdict(0); v < NumVerdicts; v++ {
		want := counters.ClassVerdict
		if v.IsDrop() {
			want = counters.ClassDrop
		}
		if d := counters.Workers[3+int(v)]; d.Class != want {
			t.Errorf("counter %s: class %d, want %d", d.Name, d.Class, want)
		}
	}
	for i, d := range counters.Workers {
		if (i < 3 || i >= 3+int(NumVerdicts)) && d.Class != counters.ClassNone {
			t.Errorf("counter %s is classed but is no verdict", d.Name)
		}
	}
	if size := int(unsafe.Sizeof(Counters{})); size != counters.Bytes(counters.Worker) {
		t.Fatalf("pipeline.Counters is %d bytes, the table %d", size, counters.Bytes(counters.Worker))
	}
	// Every field is a uint64 or an array of them: the layout has no
	// padding and readers load each slot as one uint64.
	rt := reflect.TypeOf(Counters{})
	for i := range rt.NumField() {
		f := rt.Field(i)
		k := f.Type
		if k.Kind() == reflect.Array {
			k = k.Elem()
		}
		if k.Kind() != reflect.Uint64 {
			t.Errorf("field %s is %s, not uint64", f.Name, f.Type)
		}
	}
}
