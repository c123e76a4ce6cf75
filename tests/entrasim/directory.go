package entrasim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// User is a user as Entra holds it: the source of what it provisions.
type User struct {
	ObjectID       string
	UPN            string
	MailNickname   string
	GivenName      string
	Surname        string
	DisplayName    string
	Title          string // empty: Entra sends null on create
	Department     string
	EmployeeNumber string
	Mail           string
	WorkPhone      string
	Mobile         string
	Street         string
	City           string
	Region         string
	PostalCode     string
	Country        string
	Manager        int // index in Directory.Users, -1 for none
	Enabled        bool
	Deleted        bool // hard-deleted (purged) in Entra
}

// Group is a security group with its member users (indices, sorted).
type Group struct {
	ObjectID    string
	DisplayName string
	Members     []int
	Deleted     bool
}

// Directory is the part of an Entra tenant in the provisioning scope.
type Directory struct {
	Users  []*User
	Groups []*Group
	rng    *rand.Rand
}

var (
	givenNames = []string{"Alice", "Bob", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lena"}
	surnames   = []string{"Ng", "Okafor", "Schmidt", "Tanaka", "Silva", "Novak", "Haddad", "Larsen", "Moreau", "Kim"}
	titles     = []string{"Engineer", "Senior Engineer", "Manager", "Analyst", "Designer", "Director", ""}
	depts      = []string{"R&D", "Sales", "Finance", "Operations", "Legal", "Support"}
	cities     = []string{"Redmond", "Dublin", "Singapore", "Berlin", "São Paulo"}
)

// Generate makes a directory of n users and m groups under domain. Users form
// a management tree (a user's manager has a smaller index); one in twenty
// starts disabled; groups have 3 to 40 members. The same seed gives the same
// directory.
func Generate(seed uint64, domain string, n, m int) *Directory {
	rng := rand.New(rand.NewPCG(seed, 0x5c1a))
	d := &Directory{rng: rng}
	for i := range n {
		given, sur := pick(rng, givenNames), pick(rng, surnames)
		nick := fmt.Sprintf("%s.%s%04d", given, sur, i)
		u := &User{
			ObjectID:       guid(rng),
			UPN:            nick + "@" + domain,
			MailNickname:   nick,
			GivenName:      given,
			Surname:        sur,
			DisplayName:    given + " " + sur,
			Title:          pick(rng, titles),
			Department:     pick(rng, depts),
			EmployeeNumber: fmt.Sprint(1000 + i),
			Mail:           nick + "@mail." + domain,
			WorkPhone:      fmt.Sprintf("+1 (425) 555-%04d", i),
			Mobile:         fmt.Sprintf("425555%04d", i),
			Street:         fmt.Sprintf("%d Main St", 1+i%200),
			City:           pick(rng, cities),
			Region:         "WA",
			PostalCode:     fmt.Sprintf("98%03d", i%1000),
			Country:        "US",
			Manager:        (i - 1) / 4,
			Enabled:        i%20 != 7,
		}
		d.Users = append(d.Users, u)
	}
	for j := range m {
		g := &Group{ObjectID: guid(rng), DisplayName: fmt.Sprintf("Team %03d %s", j, pick(rng, depts))}
		if n > 0 {
			g.Members = rng.Perm(n)[:min(n, 3+rng.IntN(38))]
			slices.Sort(g.Members)
		}
		d.Groups = append(d.Groups, g)
	}
	return d
}

// Evolve applies the changes an incremental cycle pushes: attribute updates
// for about one user in ten, manager changes and removals, disables and
// re-enables, deletes of users who manage nobody, member removals and
// additions, two group renames (back and forth) and one group delete.
// However often it runs, no value grows past what one change adds.
func (d *Directory) Evolve() {
	rng := d.rng
	managers := map[int]bool{}
	for _, u := range d.Users {
		if u.Manager >= 0 {
			managers[u.Manager] = true
		}
	}
	live := func(i int) bool { return !d.Users[i].Deleted }
	for i, u := range d.Users {
		if u.Deleted {
			continue
		}
		switch r := rng.IntN(100); {
		case r < 3 && !managers[i] && i > 0:
			u.Deleted = true
		case r < 13:
			// Values change but stay bounded, however many cycles run.
			u.Title = pick(rng, titles[:len(titles)-1])
			u.Department = pick(rng, depts)
			base, _, _ := strings.Cut(u.Surname, "-")
			u.Surname = base + "-" + pick(rng, surnames)
			u.DisplayName = u.GivenName + " " + u.Surname
			if m, ok := strings.CutPrefix(u.Mail, "x."); ok {
				u.Mail = m
			} else {
				u.Mail = "x." + u.Mail
			}
			u.WorkPhone = fmt.Sprintf("+1 (206) 555-%04d", i)
		case r < 18:
			u.Enabled = !u.Enabled
		}
		if !u.Enabled && i%20 == 7 {
			u.Enabled = true // restore the users that started disabled
		}
	}
	for i, u := range d.Users {
		if u.Deleted || u.Manager < 0 {
			continue
		}
		switch r := rng.IntN(100); {
		case r < 5:
			u.Manager = -1
		case r < 12:
			if m := rng.IntN(len(d.Users)); m != i && live(m) {
				u.Manager = m
			}
		}
	}
	for j, g := range d.Groups {
		kept := g.Members[:0]
		for _, m := range g.Members {
			if live(m) && (j%2 == 1 || rng.IntN(5) > 0) {
				kept = append(kept, m)
			}
		}
		g.Members = kept
		for range 3 {
			if m := rng.IntN(len(d.Users)); live(m) && !slices.Contains(g.Members, m) {
				g.Members = append(g.Members, m)
			}
		}
		slices.Sort(g.Members)
	}
	for j := range min(2, len(d.Groups)) {
		g := d.Groups[j]
		if name, ok := strings.CutSuffix(g.DisplayName, " (renamed)"); ok {
			g.DisplayName = name
		} else {
			g.DisplayName += " (renamed)"
		}
	}
	if len(d.Groups) > 2 {
		d.Groups[len(d.Groups)-1].Deleted = true
	}
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// guid returns a random GUID in Entra's objectId format.
func guid(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
