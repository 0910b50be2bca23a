#!/usr/bin/env bash
# Every disk names its creator: `imdisk -l` has an OWNER column (the user name, or
# the uid when it has none), `-l -u N` an "Owner:" line, and --json an "owner"
# object {uid, gid, user}; every caller sees every disk's owner.
. "$(dirname "$0")/functions.sh"
requires_callers
start_daemon --group nogroup

r=$(attach -s 4M)
n=$(as_nobody "$IMDISK" -a -n -s 4M)
o=$(as_other "$IMDISK" -a -n -s 4M)

# The table: the OWNER column, where its header starts (SIZE is two words), for unit $u.
owner_column() {
	"$@" | awk -v unit="$u" 'NR == 1 { col = index($0, " OWNER ") + 1; next }
		$1 == unit { if (col > 1) { split(substr($0, col), w, " "); print w[1] } else print "no OWNER column" }'
}
for lister in "" as_nobody as_other; do
	u=$r; expect_eq root "$(owner_column $lister "$IMDISK" -l)" "OWNER of root's disk (listed by ${lister:-root})"
	u=$n; expect_eq nobody "$(owner_column $lister "$IMDISK" -l)" "OWNER of nobody's disk (listed by ${lister:-root})"
	u=$o; expect_eq "$OTHER_UID" "$(owner_column $lister "$IMDISK" -l)" "OWNER of an unnamed uid's disk"
done

# One disk in detail.
expect_eq "Owner:         nobody (uid $NOBODY_UID, gid 65534)" "$(imdisk -l -u "$n" | grep '^Owner:')" "-l -u owner line"

# JSON.
expect_eq 0 "$(disk_field "$r" owner.uid)" "JSON owner uid of root's disk"
expect_eq 0 "$(disk_field "$r" owner.gid)" "JSON owner gid of root's disk"
expect_eq root "$(disk_field "$r" owner.user)" "JSON owner user of root's disk"
expect_eq "$NOBODY_UID" "$(disk_field "$n" owner.uid)" "JSON owner uid of nobody's disk"
expect_eq 65534 "$(disk_field "$n" owner.gid)" "JSON owner gid of nobody's disk"
expect_eq nobody "$(disk_field "$n" owner.user)" "JSON owner user of nobody's disk"
expect_eq "$OTHER_UID" "$(disk_field "$o" owner.uid)" "JSON owner uid of the unnamed uid's disk"
expect_eq null "$(disk_field "$o" owner.user)" "JSON owner user of a uid without a name"
# In the list of all disks too, as any caller sees it.
got=$(as_other "$IMDISK" -l --json | python3 -c '
import json, sys
print(" ".join("%d:%d" % (d["unit"], d["owner"]["uid"]) for d in json.load(sys.stdin)))')
expect_eq "$r:0 $n:$NOBODY_UID $o:$OTHER_UID" "$got" "owners in the JSON list"
