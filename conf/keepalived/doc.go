// Package keepalived converts a keepalived configuration (LVS virtual
// servers and VRRP instances, keepalived 2.2's syntax) into a dsrlb
// configuration: `dsrlbctl import keepalived FILE`.
//
// Load reads the file with its includes (globs and csh braces, relative to
// the including file; loops are errors) into statements (parse.go, with
// keepalived's line rules in lex.go). Convert maps them key by key
// (service.go for virtual servers and groups, realserver.go, schedule.go,
// method.go, check.go, vrrp.go) and writes the TOML (render.go, toml.go)
// with a comment naming the keepalived line of each value.
//
// A conversion never guesses silently. What dsrlb cannot do as keepalived
// did, or does differently (a scheduler it lacks, NAT, a timeout that must
// shrink to fit the interval, a check digest), is an Issue, printed as
// "FILE:LINE: keyword: why" and listed in the TOML's header. What would
// make the result wrong rather than incomplete stops the conversion with
// an error naming file and line: syntax errors, unbalanced braces,
// unknown blocks (a misspelt block would lose what it holds), include
// loops.
//
// Main is the command; its exit status is ExitComplete (0) when nothing
// was left out, ExitOmissions (1) when the file was written with Issues,
// ExitError (2) when nothing was written.
package keepalived
