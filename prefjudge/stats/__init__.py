"""Statistics with no knowledge of judges: intervals (Wilson, bootstrap), logistic and length-controlled fits, Bradley-Terry and its posterior."""
