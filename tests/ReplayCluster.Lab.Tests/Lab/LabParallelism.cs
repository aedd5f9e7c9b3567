// Four lab test collections at a time, not xUnit's one per core (two on the lab machines). A lab test spends much of its
// time waiting on the nodes' own clocks (a failure detector marking a node unreachable after ~7 s and downing it
// after ~18 s, a 6 s linger, a restart's rejoin, a drain's quiet seconds): with more collections at once, one's waits
// overlap another's work. Measured on the 2-core lab machine (2026-12-02, main at cc992c8, the lab project alone, one run
// each): two at a time 669 s (the parallel phase ~430 s), four 528 s (~250 s; the CPU was 92 % busy on average
// through it, vmstat). The tests that measure rates, and would be disturbed by neighbours, run alone after it either way
// (MeasuredAloneCollection, the flood).
[assembly: CollectionBehavior(MaxParallelThreads = 4)]
