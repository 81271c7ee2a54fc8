from django.db import migrations, models


def fill_last_message_at(apps, schema_editor):
    Room = apps.get_model("chat", "Room")
    for room in Room.objects.annotate(newest=models.Max("messages__timestamp")).filter(newest__isnull=False):
        Room.objects.filter(pk=room.pk).update(last_message_at=room.newest)


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0006_presence'),
    ]

    operations = [
        migrations.AddField(
            model_name='room',
            name='last_message_at',
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.RunPython(fill_last_message_at, migrations.RunPython.noop),
    ]
