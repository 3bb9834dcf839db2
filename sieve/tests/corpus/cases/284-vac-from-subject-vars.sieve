require ["vacation", "variables", "envelope"];
if envelope :matches "to" "*@*" { set "dom" "${2}"; }
vacation :from "away@${dom}" :subject "Away (${dom})" "back soon";
