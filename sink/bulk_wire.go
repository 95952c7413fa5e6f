package sink

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// DRUID's Bulk API on the wire (SPEC §2.3). DRUID documents the endpoints, the JSON Lines body
// naming each user by object_id, the states of a batch, the results' failedOnly, limit and last
// parameters with their lastId cursor, and partial semantics. The rest is assumed, and every
// assumption lives in this file, marked (assumed), so that what DRUID confirms or corrects is
// changed here and nowhere else; the simulator (package druidsim) serves the same names.
//
//   - (assumed) The upload is authorized with the app's client token, as status and results
//     are (doc), and answers 202 or 200 (bulkAccepted) with BulkUploadResponse.
//   - (assumed) The status answer is BulkStatusResponse; a results page is BulkResultsResponse,
//     its items BulkFailure.
//   - (assumed) A 404 with DRUID's envelope to a status or a results call says DRUID does not
//     know the batch: never received, or its results expired (ErrBulkUnknown).
//   - (assumed) A line is the object of the update (SPEC §2.1) without objectType and password,
//     named by object_id, with partial semantics as AppendBulkLine writes them: a null entry
//     of ids or datas, a null field of an address item, a null value of an assertion item.
//   - (assumed) An upload carries at most BulkMaxLines lines and BulkMaxBytes bytes.

// BulkPath is where DRUID's Bulk API lives, under the endpoint: PATCH uploads a batch; GET of
// BulkPath + "/" + bulkId gives its status, and GET of that + BulkResultsPath pages through its
// results.
const BulkPath = "/activityid/v1/user/bulk"

// BulkResultsPath follows a batch's path to page through its results.
const BulkResultsPath = "/results"

// BulkContentType is the media type of an upload's body: JSON Lines, UTF-8.
const BulkContentType = "application/jsonl"

// The parameters of a results page: failedOnly=true lists only the users that failed, limit is
// the page's size, and last is the lastId of the page before.
const (
	BulkQueryFailedOnly = "failedOnly"
	BulkQueryLimit      = "limit"
	BulkQueryLast       = "last"
)

// The limits of one upload (assumed): lines, and bytes of the body.
const (
	BulkMaxLines = 1000
	BulkMaxBytes = 5 << 20
)

// bulkAccepted reports whether an upload's answer code says DRUID took the batch (assumed).
func bulkAccepted(code int) bool {
	return code == http.StatusAccepted || code == http.StatusOK
}

// BulkState is the status of a batch, as DRUID reports it.
type BulkState string

// The states of a batch. Completed and failed are final: a completed batch has results, a
// failed one applied nothing.
const (
	BulkReceived   BulkState = "received"
	BulkScheduled  BulkState = "scheduled"
	BulkProcessing BulkState = "processing"
	BulkCompleted  BulkState = "completed"
	BulkFailed     BulkState = "failed"
)

// Done reports whether s is final: the batch will not change any more.
func (s BulkState) Done() bool { return s == BulkCompleted || s == BulkFailed }

// known reports whether s is one of the states DRUID documents.
func (s BulkState) known() bool {
	switch s {
	case BulkReceived, BulkScheduled, BulkProcessing, BulkCompleted, BulkFailed:
		return true
	}
	return false
}

// BulkUploadResponse is DRUID's answer to an upload (assumed).
type BulkUploadResponse struct {
	Content struct {
		BulkID string `json:"bulkId"`
	} `json:"content"`
	Result Result `json:"result"`
}

// BulkStatusResponse is DRUID's answer to a status call (assumed).
type BulkStatusResponse struct {
	Content struct {
		BulkID string    `json:"bulkId,omitempty"`
		Status BulkState `json:"status"`
	} `json:"content"`
	Result Result `json:"result"`
}

// BulkResultsResponse is one page of a batch's results (assumed): LastID is the cursor of the
// next page, absent on the last one.
type BulkResultsResponse struct {
	Content struct {
		Items  []BulkFailure `json:"items"`
		LastID string        `json:"lastId,omitempty"`
	} `json:"content"`
	Result Result `json:"result"`
}

// BulkFailure is one user of a batch that DRUID did not apply (assumed shape): the user's
// object_id, the HTTP-like code the update would have had (416, 404, 403, 428, 400) and
// DRUID's field errors. An empty ObjectID names no user: a line DRUID could not read.
type BulkFailure struct {
	ObjectID string       `json:"object_id"`
	Status   int          `json:"status"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// AppendBulkLine appends p as one line of an upload (assumed, SPEC §2.3) and returns the
// extended buffer: p's user without objectType and password, named by object_id (p.ObjectID,
// or the request's objectId), with no newline; the caller joins lines with "\n".
//
//	{"object_id":"…","ids":{…},"datas":{…},"addresses":{…},"assertions":{…}}
//
// Entries are shaped and written as in the update's body, by the same appenders, so the same
// payload always gives the same bytes. DRUID's partial semantics decide what the line says:
//
//   - A field the payload does not carry is left out of the line, and DRUID keeps its value; a
//     section with nothing to say is left out whole.
//   - A field named in p.Empty (the mapping's explicit-empty marker) is sent as null, and DRUID
//     removes it: ids.<name> and datas.<name> as a null entry ("ids":{"phone_number":null});
//     ids.<name>.confirmed as a null confirmed in the id's entry, {"confirmed":null} when the
//     payload has no value for it; addresses.<type>.<field> as a null field of the item of that
//     type; assertions.<type> as an item of that type whose value is null. It wins over a value
//     the payload holds for the same field. Other paths (password) are ignored: a line carries
//     no password.
//   - Address and assertion items are DRUID's per type: an item patches DRUID's item of its
//     type, field by field. The payload's items come first, in its order, then the items only
//     p.Empty names, by type; totalItems counts the items of the line.
func AppendBulkLine(b []byte, p *Payload) []byte {
	u := &p.Request.Object
	var e removals
	if len(p.Empty) > 0 {
		e = removalsOf(p.Empty)
	}
	b = append(b, `{"object_id":`...)
	b = AppendString(b, cmp.Or(p.ObjectID, u.ObjectID))
	b = appendPatchMap(b, `,"ids":`, u.IDs, e.ids, e.confirmed, func(b []byte, id ID, unconfirm bool) []byte {
		b = appendTypedValue(b, id.ObjectType, id.Value)
		switch {
		case unconfirm:
			b = append(b, `,"confirmed":null`...)
		case id.Confirmed != nil:
			b = AppendConfirmed(b, *id.Confirmed)
		}
		return append(b, '}')
	}, `{"confirmed":null}`)
	b = appendPatchMap(b, `,"datas":`, u.Datas, e.datas, nil, func(b []byte, d Data, _ bool) []byte {
		return appendData(b, d)
	}, "")
	b = appendAddressPatch(b, u.Addresses, e.addrs)
	b = appendAssertionPatch(b, u.Assertions, e.asserts)
	return append(b, '}')
}

// removals are the fields a payload explicitly empties (Payload.Empty), by section.
type removals struct {
	ids, confirmed, datas, asserts []string // names and types
	addrs                          []addrRemoval
}

// addrRemoval is one field of one address type to remove.
type addrRemoval struct {
	typ  string
	null uint8 // the fields, as appendAddressItem's bits
}

// removalsOf sorts the paths of Payload.Empty by section. A path that names no field of a line
// is ignored.
func removalsOf(paths []string) removals {
	var e removals
	for _, path := range paths {
		section, rest, _ := strings.Cut(path, ".")
		if rest == "" {
			continue
		}
		switch section {
		case "ids":
			if name, ok := strings.CutSuffix(rest, ".confirmed"); ok {
				e.confirmed = append(e.confirmed, name)
			} else {
				e.ids = append(e.ids, rest)
			}
		case "datas":
			e.datas = append(e.datas, rest)
		case "assertions":
			e.asserts = append(e.asserts, rest)
		case "addresses":
			i := strings.LastIndexByte(rest, '.')
			if i < 0 {
				continue
			}
			bit := addressFieldBit(rest[i+1:])
			if bit == 0 {
				continue
			}
			typ := rest[:i]
			j := slices.IndexFunc(e.addrs, func(a addrRemoval) bool { return a.typ == typ })
			if j < 0 {
				e.addrs = append(e.addrs, addrRemoval{typ: typ})
				j = len(e.addrs) - 1
			}
			e.addrs[j].null |= bit
		}
	}
	return e
}

// appendPatchMap writes a section of ids or datas after its key: the payload's entries and
// the names in null, in key order, each entry by value (told whether its name is in flag) and
// each name of null as null; a name only in flag is written as flagOnly. The section is left
// out when it would be empty.
func appendPatchMap[V any](b []byte, key string, m map[string]V, null, flag []string,
	value func([]byte, V, bool) []byte, flagOnly string) []byte {
	if len(m) == 0 && len(null) == 0 && len(flag) == 0 {
		return b
	}
	keys := make([]string, 0, len(m)+len(null)+len(flag))
	for k := range m {
		keys = append(keys, k)
	}
	keys = append(keys, null...)
	keys = append(keys, flag...)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	b = append(b, key...)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		v, has := m[k]
		switch {
		case slices.Contains(null, k):
			b = append(b, "null"...)
		case has:
			b = value(b, v, slices.Contains(flag, k))
		default:
			b = append(b, flagOnly...)
		}
	}
	return append(b, '}')
}

// appendAddressPatch writes the addresses of a line: the payload's items, each with the fields
// removals name for its type as null, then an item per type only removals name.
func appendAddressPatch(b []byte, a *Addresses, removed []addrRemoval) []byte {
	if a == nil && len(removed) == 0 {
		return b
	}
	objectType := ObjectTypeAddresses
	var items []Address
	if a != nil {
		objectType, items = a.ObjectType, a.Items
	}
	nullOf := func(typ string) uint8 {
		if i := slices.IndexFunc(removed, func(r addrRemoval) bool { return r.typ == typ }); i >= 0 {
			return removed[i].null
		}
		return 0
	}
	var only []addrRemoval
	for _, r := range removed {
		if !slices.ContainsFunc(items, func(a Address) bool { return a.Type == r.typ }) {
			only = append(only, r)
		}
	}
	slices.SortFunc(only, func(x, y addrRemoval) int { return strings.Compare(x.typ, y.typ) })
	n := len(items)
	// Items are never null in a line: a null could read as "remove every address".
	return appendCollection(b, `,"addresses":`, objectType, n+len(only), false, n+len(only), func(b []byte, i int) []byte {
		if i < n {
			return appendAddressItem(b, &items[i], nullOf(items[i].Type))
		}
		r := &only[i-n]
		return appendAddressItem(b, &Address{ObjectType: ObjectTypeAddress, Type: r.typ}, r.null)
	})
}

// appendAssertionPatch writes the assertions of a line: the payload's items, an item of a type
// removed being written with a null value instead, then an item per type only removed names.
func appendAssertionPatch(b []byte, a *Assertions, removed []string) []byte {
	if a == nil && len(removed) == 0 {
		return b
	}
	objectType := ObjectTypeAssertions
	var items []Assertion
	if a != nil {
		objectType, items = a.ObjectType, a.Items
	}
	var only []string
	for _, typ := range removed {
		if !slices.ContainsFunc(items, func(a Assertion) bool { return a.Type == typ }) {
			only = append(only, typ)
		}
	}
	slices.Sort(only)
	only = slices.Compact(only)
	n := len(items)
	return appendCollection(b, `,"assertions":`, objectType, n+len(only), false, n+len(only), func(b []byte, i int) []byte {
		if i >= n {
			return appendAssertionRemoval(b, ObjectTypeAssertion, only[i-n])
		}
		if it := &items[i]; slices.Contains(removed, it.Type) {
			return appendAssertionRemoval(b, it.ObjectType, it.Type)
		}
		return appendAssertion(b, &items[i])
	})
}

// appendAssertionRemoval writes the item that removes the assertion of type typ.
func appendAssertionRemoval(b []byte, objectType, typ string) []byte {
	b = appendTypedItem(b, objectType, typ)
	return append(b, `,"value":null}`...)
}
