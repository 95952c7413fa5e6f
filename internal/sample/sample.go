// Package sample generates realistic CRM exports and the DRUID users they update, for the demo,
// the integration tests and the benchmarks.
package sample

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"druid-migrate/druidsim"
	"druid-migrate/sink"
)

// Header is the header of the CSV export Write produces: dotted column names, so it needs no
// mapping file, and one column (crm_segment) that maps to nothing.
var Header = []string{
	"key", "objectId", "ids.email", "ids.email.confirmed", "ids.phone_number",
	"datas.name", "datas.surname", "datas.birthday", "datas.country",
	"addresses.home.streetAddress", "addresses.home.locality", "addresses.home.postalCode", "addresses.home.country",
	"assertions.terms", "assertions.optin", "device", "locale", "crm_segment",
}

// Options say which troubles the sample holds.
type Options struct {
	Users int
	// Invalid adds records the tool must refuse locally: a bad email, an impossible date, a bad
	// boolean, a repeated key, an empty key and a malformed row.
	Invalid bool
	// Rejected makes some users ones DRUID refuses: unknown (404), blocked (403), MFA (428).
	Rejected bool
	// Variant changes every generated name, so that a second sample updates every user.
	Variant string
	// Passwords adds a last column, PasswordColumn, holding each user's Password: a record
	// with a password costs the run more, for its payload hash.
	Passwords bool
}

// PasswordColumn is the column Options.Passwords adds after Header's.
const PasswordColumn = "password"

// Password returns the i-th user's password.
func Password(i int) string { return fmt.Sprintf("Sample-pw-%07d!", i) }

var (
	names    = []string{"Ana", "Luis", "María", "Jorge", "Lucía", "Pablo", "Carmen", "Diego", "Elena", "Javier"}
	surnames = []string{"García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín"}
	cities   = []string{"Madrid", "Barcelona", "Sevilla", "Valencia", "Bilbao", "Zaragoza"}
)

// Key returns the CRM key of the i-th user.
func Key(i int) string { return fmt.Sprintf("crm-%07d", i) }

// ObjectID returns the DRUID id of the i-th user.
func ObjectID(i int) string { return fmt.Sprintf("druid-%07d", i) }

// Row returns the i-th user's CSV row.
func Row(i int, variant string) []string {
	confirmed := "false"
	if i%3 == 0 {
		confirmed = "true"
	}
	optin := "no"
	if i%2 == 0 {
		optin = "yes"
	}
	return []string{
		Key(i), ObjectID(i),
		fmt.Sprintf("user%d@example.com", i), confirmed,
		fmt.Sprintf("+346%08d", i),
		names[i%len(names)] + variant, surnames[i%len(surnames)],
		fmt.Sprintf("%02d/%02d/%d", 1+i%28, 1+i%12, 1950+i%50), "ES",
		fmt.Sprintf("Calle Mayor %d", 1+i%200), cities[i%len(cities)], fmt.Sprintf("%05d", 28000+i%1000), "ES",
		"true", optin, "pc", "es-ES", "segment-" + strconv.Itoa(i%7),
	}
}

// Trouble names the rows Write made invalid or rejected, by CRM key or line.
type Trouble struct {
	InvalidLines []int    // CSV lines of records the tool must refuse
	RejectedKeys []string // keys of users DRUID refuses
	ValidKeys    []string // keys of every record that should be sent
	UnknownKeys  []string // of RejectedKeys, those DRUID does not know (404)
}

// Write writes the CSV export to csvOut and the DRUID users it updates, as JSON Lines for
// fake-druid --users, to usersOut.
func Write(csvOut, usersOut io.Writer, opt Options) (Trouble, error) {
	var tr Trouble
	w := csv.NewWriter(csvOut)
	header := Header
	if opt.Passwords {
		header = append(slices.Clip(Header), PasswordColumn)
	}
	if err := w.Write(header); err != nil {
		return tr, err
	}
	// row is the i-th user's row, with its password when the sample has them.
	row := func(i int) []string {
		r := Row(i, opt.Variant)
		if opt.Passwords {
			r = append(r, Password(i))
		}
		return r
	}
	enc := json.NewEncoder(usersOut)
	line := 1
	for i := 1; i <= opt.Users; i++ {
		seed := druidsim.Seed{User: sink.User{ObjectType: sink.ObjectTypeUser, ObjectID: ObjectID(i)}}
		known := true
		if opt.Rejected && i%400 == 7 {
			switch (i / 400) % 3 {
			case 0:
				known = false
				tr.UnknownKeys = append(tr.UnknownKeys, Key(i))
			case 1:
				seed.Flags = []string{"blocked"}
			case 2:
				seed.Flags = []string{"mfa"}
			}
			tr.RejectedKeys = append(tr.RejectedKeys, Key(i))
		}
		if known {
			if err := enc.Encode(seed); err != nil {
				return tr, err
			}
		}
		if err := w.Write(row(i)); err != nil {
			return tr, err
		}
		line++
		tr.ValidKeys = append(tr.ValidKeys, Key(i))
	}
	if opt.Invalid {
		bad := [][]string{
			withField(row(opt.Users+1), 2, "not-an-email"),
			withField(row(opt.Users+2), 7, "31/02/2000"),
			withField(row(opt.Users+3), 14, "maybe"),
			row(1), // repeats the first user's key
			withField(row(opt.Users+4), 0, ""),
		}
		for _, r := range bad {
			if err := w.Write(r); err != nil {
				return tr, err
			}
			line++
			tr.InvalidLines = append(tr.InvalidLines, line)
		}
		w.Flush()
		// A malformed row: fewer fields than the header.
		if _, err := io.WriteString(csvOut, "crm-bad,druid-bad,short@example.com\n"); err != nil {
			return tr, err
		}
		line++
		tr.InvalidLines = append(tr.InvalidLines, line)
	}
	w.Flush()
	return tr, w.Error()
}

func withField(row []string, i int, v string) []string {
	row[i] = v
	return row
}
