"""What operators do to the fleet of pledges, through each workflow's own updates."""
