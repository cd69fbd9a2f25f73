package perf

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// hugePageMB is the size of the hugepages the benchmark reserves.
const hugePageMB = 2

// Where the kernel keeps the default-size hugepage pool (2 MiB on
// x86_64); variables for tests.
var (
	nrHugepagesPath = "/proc/sys/vm/nr_hugepages"
	meminfoPath     = "/proc/meminfo"
)

// reserveHugepages makes sure mb megabytes of free 2 MiB hugepages exist
// for the run (one program at a time uses them), says so on log, and
// returns the function that gives the pages it added back. It needs
// root, and memory the kernel can turn into hugepages.
func reserveHugepages(mb int, log io.Writer) (release func(), err error) {
	need := (mb + hugePageMB - 1) / hugePageMB
	total, free, err := hugepages()
	if err != nil {
		return nil, err
	}
	if free >= need {
		fmt.Fprintf(log, "hugepages: %d free of %d, %d needed (%d MB)\n", free, total, need, mb)
		return func() {}, nil
	}
	want := total + need - free
	if err := os.WriteFile(nrHugepagesPath, []byte(strconv.Itoa(want)), 0o644); err != nil {
		return nil, fmt.Errorf("reserving %d hugepages of 2 MiB: %w (run as root, or use memory mode %q)", want-total, err, MemoryNoHuge)
	}
	restore := func() {
		if err := os.WriteFile(nrHugepagesPath, []byte(strconv.Itoa(total)), 0o644); err != nil {
			fmt.Fprintf(log, "hugepages: giving back %d pages failed: %v\n", want-total, err)
			return
		}
		fmt.Fprintf(log, "hugepages: %d pages given back (%d reserved again)\n", want-total, total)
	}
	if _, got, err := hugepages(); err != nil || got < need {
		restore()
		if err == nil {
			err = fmt.Errorf("%d free after asking for %d more: not enough memory for %d MB", got, want-total, mb)
		}
		return nil, fmt.Errorf("reserving hugepages: %w", err)
	}
	fmt.Fprintf(log, "hugepages: reserved %d more 2 MiB pages for the benchmark (%d MB needed), given back at the end\n", want-total, mb)
	return restore, nil
}

// hugepages reads the default-size pool: pages in all and free.
func hugepages() (total, free int, err error) {
	b, err := os.ReadFile(meminfoPath)
	if err != nil {
		return 0, 0, err
	}
	size := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.Atoi(f[0])
		switch k {
		case "HugePages_Total":
			total = n
		case "HugePages_Free":
			free = n
		case "Hugepagesize":
			size = n
		}
	}
	if size != hugePageMB<<10 {
		return 0, 0, fmt.Errorf("the default hugepage size is %d kB, not 2048 kB", size)
	}
	return total, free, nil
}
