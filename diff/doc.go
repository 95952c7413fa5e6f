// Package diff shows what a DRUID update would do to a user before it is sent, and builds the
// payload of a merge.
//
// DRUID's update call is a full replacement (SPEC §2.1): whatever the request leaves out is
// deleted from the user. [Diff] compares the user DRUID holds now (GET .../user/{objectId})
// with the user a payload carries and lists, field by field, what the replacement adds,
// changes and removes, so an operator can see a replacement's effect, and a guard can refuse
// one that deletes what it should not ([Removed], [ConfirmedIDsRemoved]). [Totals] sums the
// changes of many users into the table a command prints.
//
// [Merge] is the payload of --merge: DRUID's user with the source's fields laid over it, so a
// source that holds only some fields never erases the others; only the fields the source
// explicitly empties are removed.
//
// # Fields
//
// A field is named by the same path as the mapping's columns (SPEC §3): ids.<name>,
// ids.<name>.confirmed, datas.<name>, addresses.<type>.<field> (streetAddress, locality,
// region, postalCode, country), assertions.<type>, and password. objectId names the user and
// is not a field. Values are compared and shown as text, booleans as "true" and "false".
// An empty value is no value, as an empty cell is for the mapping: an id, a data or an
// address field holding "" is absent.
//
// The confirmed flag of an id belongs to the id: DRUID reads an unset flag as false, so the
// field ids.<name>.confirmed exists, "true" or "false", exactly while the id exists. An id
// that comes or goes unconfirmed is reported as its ids.<name> line alone; a confirmed one
// brings or takes its ids.<name>.confirmed line with it; an id that stays and loses or gains
// its confirmation is a change of ids.<name>.confirmed, never a removal.
//
// The password is never compared, read from the current user or shown: DRUID never returns
// it, so whether a payload's password differs from the stored one cannot be known. A payload
// that carries one is reported as the single change {password, changed, "", "********"},
// whatever the password and whatever the current user holds: the line says that the request
// sets the password and nothing about its value, its length or whether it is new.
//
// Names of ids, datas and types are DRUID's identifiers, which hold no dots; one that did
// could make two paths read the same.
//
// Everything here is a pure function of its arguments: no I/O, and no argument is modified
// or shared with a result.
package diff
