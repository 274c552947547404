package discovery

// Validation of regexes in the dialect Envoy compiles: Google's RE2, with
// a limit on the program size.
//
// Envoy 1.40 compiles route regexes as Latin-1, not UTF-8 (checked on the
// build make test uses: ^.$ does not match the two bytes of "ā", ^..$
// does). Its parser then refuses an escape beyond one byte, \x{100} or
// [^\x00-\x{10FFFF}], which Go's UTF-8 parser takes. Matching is byte by
// byte: "." is one byte, and a non-ASCII character in a class stands for
// its bytes; plain non-ASCII text still matches itself.

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRegexProgramSize is Envoy's default re2.max_program_size.error_level:
// Envoy rejects a regex whose compiled RE2 program is larger.
const maxRegexProgramSize = 100

// checkRE2 checks a regex Envoy will compile. Envoy uses Google's RE2, as
// Go's regexp does, so what Go cannot compile Envoy cannot either. Envoy
// also refuses large programs (maxRegexProgramSize).
func checkRE2(p *problemList, path, re string) {
	if re == "" {
		p.add(path, "regex must not be empty")
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		p.add(path, "not a valid RE2 regex: %v", err)
		return
	}
	if esc, ok := wideEscape(re); ok {
		p.add(path, "Envoy's RE2 reads regexes as Latin-1 and refuses the escape %s, beyond \\xFF; write the character itself (it matches its UTF-8 bytes)", esc)
		return
	}
	if n := re2ProgramSize(re); n > maxRegexProgramSize {
		p.add(path, "regex is too complex for Envoy: its RE2 program has about %d instructions, at most %d are accepted", n, maxRegexProgramSize)
	}
}

// re2ProgramSize estimates the size of RE2's program for re, which Go
// cannot compute exactly: Go compiles to runes where RE2 compiles to UTF-8
// bytes. The estimate counts Go's instructions (3 for RE2's fixed
// prologue), and for a character class one per ASCII byte range, one for
// all of U+0080..U+10FFFF (RE2's loose UTF-8 matcher) and the UTF-8 bytes of
// other non-ASCII ranges (at most 16). Case folding is free in RE2 (one
// byte range with a fold flag), so the upper case twin of a lower case
// range, the Kelvin sign and the long s that (?i) adds are not counted.
// Checked against Envoy 1.40's own figure on ~90 regexes (literals, ., \d,
// \w, classes, negated classes, repetitions, alternations, (?i), Unicode
// classes): never below it, within 2 for ASCII regexes, so it errs on the
// side of rejecting, never of a NACK.
func re2ProgramSize(re string) int {
	parsed, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return 0
	}
	size := 3
	for _, inst := range prog.Inst {
		size += instSize(inst)
	}
	return size
}

func instSize(inst syntax.Inst) int {
	switch inst.Op {
	case syntax.InstRuneAnyNotNL:
		return 2 // [^\n]: two byte ranges, then the loose UTF-8 matcher
	case syntax.InstRune, syntax.InstRune1:
	default:
		return 1
	}
	size, multibyte := 0, 0
	ranges := unfoldedRanges(inst.Rune)
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo < utf8.RuneSelf {
			size++
		}
		switch {
		case hi < utf8.RuneSelf:
		case lo <= utf8.RuneSelf && hi == unicode.MaxRune:
			size++
		case lo == hi:
			multibyte += utf8.RuneLen(lo) // one byte range per UTF-8 byte
		default:
			multibyte += utf8.RuneLen(max(lo, utf8.RuneSelf)) + utf8.RuneLen(hi)
		}
	}
	return max(1, size+min(multibyte, 16))
}

// unfoldedRanges is a rune class (pairs lo, hi; one rune for a literal) as
// RE2 pays for it: without the A-Z twin of a-z, nor K (U+212A) beside k and
// ſ (U+017F) beside s, which case folding adds.
func unfoldedRanges(r []rune) []rune {
	if len(r) == 1 {
		return []rune{r[0], r[0]}
	}
	has := func(c rune) bool {
		for i := 0; i+1 < len(r); i += 2 {
			if r[i] <= c && c <= r[i+1] {
				return true
			}
		}
		return false
	}
	out := make([]rune, 0, len(r))
	for i := 0; i+1 < len(r); i += 2 {
		lo, hi := r[i], r[i+1]
		switch {
		case lo == hi && lo == '\u212a' && has('k'), lo == hi && lo == '\u017f' && has('s'):
			continue
		case lo >= 'A' && hi <= 'Z' && has(lo+'a'-'A') && has(hi+'a'-'A'):
			continue
		}
		out = append(out, lo, hi)
	}
	return out
}

// wideEscape finds a \x{...} escape of a code point beyond 0xFF, which
// Envoy's Latin-1 RE2 refuses, outside \Q...\E (where everything is
// literal).
func wideEscape(re string) (string, bool) {
	for i := 0; i < len(re); i++ {
		if re[i] != '\\' || i+1 == len(re) {
			continue
		}
		switch re[i+1] {
		case 'Q':
			end := strings.Index(re[i+2:], `\E`)
			if end < 0 {
				return "", false
			}
			i += 2 + end + 1
		case 'x':
			if rest := re[i+2:]; strings.HasPrefix(rest, "{") {
				if end := strings.IndexByte(rest, '}'); end > 0 {
					if v, err := strconv.ParseUint(rest[1:end], 16, 32); err == nil && v > 0xFF {
						return re[i : i+2+end+1], true
					}
				}
			}
			i++
		default:
			i++ // an escaped character, maybe a backslash
		}
	}
	return "", false
}
