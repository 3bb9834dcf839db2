require ["variables", "fileinto"];
if header :matches "x-priority" "*" { set "p" "${1}"; }
fileinto "prio${p}";
