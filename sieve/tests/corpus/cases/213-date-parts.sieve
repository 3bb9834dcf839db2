require ["date", "variables", "fileinto"];
if allof (date :is "date" "month" "04", date :is "date" "day" "01", date :is "date" "hour" "07", date :is "date" "minute" "06", date :is "date" "second" "31") { fileinto "ok"; }
